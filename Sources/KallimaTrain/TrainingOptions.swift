import KallimaGAN

/// Everything `kallima train` takes; defaults are the DCGAN paper's (Radford et al. 2015).
public struct TrainingOptions: Sendable {
  /// Image folder or idx file; nil = the embedded default (Debian's Fashion-MNIST), or on
  /// resume the checkpoint's (give it when the data moved: the fingerprint confirms it).
  public var data: String?
  public var size = 64
  /// Image channels to train on (nil: 1 for idx data, 3 for image folders).
  public var channels: Int?
  public var batch = 64
  /// Total steps to reach (a resumed run continues up to this count, unless
  /// `keepCheckpointTarget`).
  public var steps = 1000
  /// On resume: train to the checkpoint's recorded target step count instead of `steps`
  /// (the command line sets this when neither --steps nor --epochs is given).
  public var keepCheckpointTarget = false
  /// On resume: continue even when the data stream differs from the checkpoint's (--limit,
  /// image count or fingerprint); the run warns and records the change in its checkpoints.
  /// Without it such a resume stops with an error saying what differs.
  public var allowDataChange = false
  /// When set, `steps` becomes this many passes over the data (whole batches per pass).
  public var epochs: Int?
  public var nz = 100
  public var ngf = 64
  public var ndf = 64
  /// The method: loss, optimisers, regularisers, EMA, spectral norm (see RecipeOptions).
  public var recipe = RecipeOptions()
  public var seed: UInt64 = 0
  public var flip = false
  /// Run folder: samples/, checkpoints/, metrics.jsonl.
  public var out = "runs/dcgan"
  public var logEvery = 50
  public var sampleEvery = 200
  public var checkpointEvery = 500
  /// Images in each sample grid (from a fixed z, so grids are comparable over time).
  public var sampleCount = 64
  /// Use at most this many training images (quick experiments, tests). On resume, nil keeps
  /// the checkpoint's.
  public var limit: Int?
  /// Device memory the dataset may take, in bytes (8-bit images); a larger set is streamed
  /// from the host. nil: `Backend.defaultDataMemory`.
  public var dataMemory: Int?
  /// A `.npy` of one embedding row per image (`--condition embedding`), in the dataset's image
  /// order (sorted paths of a folder, file order of an idx file).
  public var embeddings: String?
  /// Steps between evaluations (mode coverage by a classifier trained on the labelled
  /// training data); nil: none.
  public var evalEvery: Int?
  /// Generated images per evaluation.
  public var evalSamples = 2000
  /// Training steps of the mode classifier (batch 128), when it is not cached yet.
  public var classifierSteps = 600
  /// StackGAN stage II: the stage-I checkpoint whose generator (its EMA when it kept one)
  /// becomes the frozen "STAGE1_G" of a new run. Not needed to resume (the stage-II
  /// checkpoints hold stage I's weights).
  public var stageOne: String?

  public init() {}

  /// The default data: Debian's `dataset-fashion-mnist` (installed by Scripts/setup.sh).
  public static let embeddedData = "/usr/share/datasets/fashion-mnist"

  public var dataPath: String { data ?? TrainingOptions.embeddedData }
}
