import Foundation
import KallimaCore
import KallimaData
import KallimaGAN

/// StackGAN's second stage (Zhang et al. 2017): a run that trains stage II around the frozen
/// generator of a finished stage-I run.
extension TrainingRun {
  /// The stage-I checkpoint at `path` (a .safetensors file, or a run folder: its latest),
  /// checked to be one: a StackGAN stage-I generator with its conditions.
  public static func stageOneCheckpoint(_ path: String) throws -> (checkpoint: Checkpoint, path: String) {
    var isFolder: ObjCBool = false
    let file = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
      ? URL(fileURLWithPath: path).appendingPathComponent("checkpoints/latest.safetensors").path : path
    let checkpoint = try Checkpoint.read(file)
    guard checkpoint.recipe.isStackGAN, (checkpoint.recipe.stage ?? 1) == 1, checkpoint.conditions != nil else {
      throw KallimaError.invalidArgument(
        op: "train",
        message: "\(file) is a \(checkpoint.recipe.arch) checkpoint\(checkpoint.recipe.isStackGAN ? " of stage \(checkpoint.recipe.stage ?? 1)" : ""); "
          + "--stage1 takes a checkpoint (or run folder) of kallima train --arch stackgan --stage 1")
    }
    return (checkpoint, file)
  }

  /// A stage-II run's options from its stage-I checkpoint: z's size, the condition and its
  /// features, stage I's width and channels, and the side (4× stage I's unless given; any
  /// other side is refused).
  public static func stageTwoOptions(_ options: inout TrainingOptions, from stageOne: Checkpoint, path: String, size: Int?) throws {
    let one = stageOne.config
    if let size, size != 4 * one.imageSize {
      throw KallimaError.invalidArgument(
        op: "train", message: "stage II draws 4x stage I's \(one.imageSize)x\(one.imageSize): --size \(4 * one.imageSize) (or leave it out), not \(size)")
    }
    if let condition = options.recipe.condition, condition != stageOne.recipe.condition {
      throw KallimaError.invalidArgument(
        op: "train", message: "stage I was trained on --condition \(stageOne.recipe.condition ?? "none"), not \(condition)")
    }
    if let dimension = options.recipe.conditionDim, dimension != stageOne.recipe.conditionDim ?? 128 {
      throw KallimaError.invalidArgument(
        op: "train", message: "stage I's conditioning augmentation has \(stageOne.recipe.conditionDim ?? 128) features; drop --condition-dim \(dimension)")
    }
    options.size = 4 * one.imageSize
    options.channels = one.channels
    options.nz = one.nz
    options.recipe.stage = 2
    options.recipe.stageOneWidth = one.ngf
    options.recipe.condition = stageOne.recipe.condition
    options.recipe.conditionDim = stageOne.recipe.conditionDim
    // Stage II's own conditioning augmentation is built like stage I's.
    (options.recipe.paperCA, options.recipe.caInit) = (stageOne.recipe.paperCA, stageOne.recipe.caInit)
    options.stageOne = path
  }

  /// Writes the stage-I generator (its EMA when it kept one, the weights it samples with)
  /// into the trainer's frozen "STAGE1_G." tensors, and into the EMA's when the run keeps one.
  static func loadStageOne(
    _ stageOne: (checkpoint: Checkpoint, path: String), into trainer: GANTrainer, conditions: ConditionVocabulary?,
    events: (Event) -> Void
  ) throws {
    let (checkpoint, file) = stageOne
    guard checkpoint.conditions == conditions else {
      throw KallimaError.invalidArgument(
        op: "train",
        message: "the data's conditions differ from those stage I was trained on (\(file)): the classes, tags or words changed, "
          + "so stage I's condition inputs would mean something else; train stage II on stage I's data")
    }
    let network = checkpoint.tensors.contains { $0.name.hasPrefix("generator_ema.") } ? "generator_ema" : "generator"
    for store in [trainer.generatorParameters] + (trainer.emaParameters.map { [$0] } ?? []) {
      try checkpoint.restore(store, network: network, path: file, prefix: "STAGE1_G.")
    }
    events(.note("stage I: \(network) of \(file) (step \(checkpoint.training.step)), frozen"))
  }

  /// What the README's runs measured, said when a StackGAN stage I starts on a bag-of-words
  /// condition (text, tags) with the reference's conditioning augmentation (nil otherwise).
  static func stackGANAdvice(_ recipe: RecipeOptions) -> String? {
    guard recipe.isStackGAN, (recipe.stage ?? 1) == 1, ["text", "tags"].contains(recipe.condition ?? ""),
      recipe.paperCA != true || recipe.caInit == nil
    else { return nil }
    return "on bag-of-words conditions the reference's conditioning augmentation (ReLU before the split, weights from "
      + "N(0, 0.02)) left G blind to the captions in the README's StackGAN runs; --paper-ca --ca-init 1 made it follow them"
  }
}
