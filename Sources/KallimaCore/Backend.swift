/// The op set: every kernel Kallima runs, with forward and backward entry points.
///
/// Two implementations exist: `CPUBackend` (plain Swift, Double, the oracle) and
/// `OpenCLBackend` (kernels in Kernels/*.cl, GEMMs through CLBlast). Each entry point has
/// the same name and argument order in both, and in the OpenCL C source where it maps to
/// one kernel. All image tensors are NCHW float32; outputs are passed in pre-allocated, so
/// a plan can own every buffer and replay launches without allocating.
///
/// Device backends enqueue and return: nothing blocks until `read` or `synchronize`.
public protocol Backend: AnyObject {
  /// Human-readable identity, e.g. "cpu" or "opencl:0:0 pthread-skylake".
  var name: String { get }
  /// Host waits and transfers so far (the executor's per-step accounting reads it).
  var traffic: HostTraffic { get }

  // MARK: Memory
  func makeBuffer(count: Int) throws -> DeviceBuffer
  /// Copies host values into the tensor's storage.
  func write(_ values: [Float], to tensor: Tensor) throws
  /// Blocks until the tensor's value is known and returns it.
  func read(_ tensor: Tensor) throws -> [Float]
  /// Waits for all enqueued work.
  func synchronize() throws
  /// y[i] = value for all i.
  func fill(_ y: Tensor, value: Float) throws

  // MARK: Convolution (weights OIHW for conv2d, IOHW for the transpose, as PyTorch)
  func conv2d_fwd(x: Tensor, weight: Tensor, bias: Tensor?, y: Tensor, params: Conv2dParams) throws
  func conv2d_bwd_data(dy: Tensor, weight: Tensor, dx: Tensor, params: Conv2dParams) throws
  func conv2d_bwd_weight(x: Tensor, dy: Tensor, dweight: Tensor, params: Conv2dParams) throws
  func conv_transpose2d_fwd(
    x: Tensor, weight: Tensor, bias: Tensor?, y: Tensor, params: ConvTranspose2dParams) throws
  func conv_transpose2d_bwd_data(
    dy: Tensor, weight: Tensor, dx: Tensor, params: ConvTranspose2dParams) throws
  func conv_transpose2d_bwd_weight(
    x: Tensor, dy: Tensor, dweight: Tensor, params: ConvTranspose2dParams) throws

  // MARK: Normalisation (Ioffe & Szegedy 2015; Ulyanov et al. 2016)
  /// Batch statistics over N,H,W per channel; updates running stats like PyTorch
  /// (running_var takes the unbiased variance). Saves mean and 1/sqrt(var+eps) for backward.
  /// Momentum 0 leaves the running statistics untouched (batch statistics without training
  /// them: pix2pix's test-time behaviour).
  func batchnorm_fwd_train(
    x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, saveMean: Tensor, saveInvstd: Tensor,
    runningMean: Tensor, runningVar: Tensor, momentum: Float, eps: Float) throws
  func batchnorm_fwd_eval(
    x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, y: Tensor,
    eps: Float) throws
  /// Backward of train mode: gradients for x, gamma and beta.
  func batchnorm_bwd(
    dy: Tensor, x: Tensor, gamma: Tensor, saveMean: Tensor, saveInvstd: Tensor, dx: Tensor,
    dgamma: Tensor, dbeta: Tensor) throws
  /// Backward of eval mode (statistics are constants).
  func batchnorm_bwd_eval(
    dy: Tensor, x: Tensor, gamma: Tensor, runningMean: Tensor, runningVar: Tensor, dx: Tensor,
    dgamma: Tensor, dbeta: Tensor, eps: Float) throws
  /// Statistics per (n, c) over H,W; gamma/beta optional (affine=False is PyTorch's default).
  func instancenorm_fwd(
    x: Tensor, gamma: Tensor?, beta: Tensor?, y: Tensor, saveMean: Tensor, saveInvstd: Tensor,
    eps: Float) throws
  func instancenorm_bwd(
    dy: Tensor, x: Tensor, gamma: Tensor?, saveMean: Tensor, saveInvstd: Tensor, dx: Tensor,
    dgamma: Tensor?, dbeta: Tensor?) throws

  // MARK: Pooling and resizing (PyTorch semantics, dilation 1; see Pool2dParams)
  /// y[n,c,oy,ox] = max of x over window (oy, ox); padding never wins (it acts as −inf).
  /// NaN propagates: a NaN in the window is the result, as in PyTorch.
  func max_pool2d_fwd(x: Tensor, y: Tensor, params: Pool2dParams) throws
  /// dx: each dy[n,c,oy,ox] goes to one element of its window, the first maximal one in
  /// row-major window order (PyTorch's tie rule: a later element takes over only when
  /// strictly greater, or NaN); overlapping windows add. The route is recomputed from x,
  /// so the forward output is not needed.
  func max_pool2d_bwd(x: Tensor, dy: Tensor, dx: Tensor, params: Pool2dParams) throws
  /// y = window sum / divisor: kernel area counted through the padding when
  /// `countIncludePad` (PyTorch's default), else only the pixels inside the image
  /// (pytorch-fid's Inception blocks use false).
  func avg_pool2d_fwd(x: Tensor, y: Tensor, params: Pool2dParams, countIncludePad: Bool) throws
  /// dx[n,c,iy,ix] = Σ over windows covering the pixel of dy / that window's divisor.
  func avg_pool2d_bwd(dy: Tensor, dx: Tensor, params: Pool2dParams, countIncludePad: Bool) throws
  /// Bilinear resize of x [N,C,H,W] to y's OH×OW, as F.interpolate(size=(OH, OW),
  /// mode="bilinear", align_corners=False): source row = max(0, (oy + 0.5)·H/OH − 0.5),
  /// blending rows floor(src) and min(floor(src) + 1, H − 1); columns likewise. With a
  /// scale_factor PyTorch uses 1/factor, which is H/OH whenever OH = H·factor exactly.
  func upsample_bilinear2d_fwd(x: Tensor, y: Tensor) throws
  /// dx = the transpose of that resize applied to dy (each input gathers its weighted outputs).
  func upsample_bilinear2d_bwd(dy: Tensor, dx: Tensor) throws
  /// Nearest-neighbour upsampling of x [N,C,H,W] by an integer factor k into y [N,C,kH,kW]:
  /// y[n,c,oy,ox] = x[n,c,oy/k,ox/k] (integer division), as nn.Upsample(scale_factor=k,
  /// mode="nearest"). PyTorch computes the source index as floor(oy·float(1/k)) in float:
  /// identical for power-of-two k (float(1/k) is exact); for other k the float product could
  /// in principle round below an integer at some oy = m·k, which has not been checked
  /// against PyTorch.
  func upsample_nearest2d_fwd(x: Tensor, y: Tensor, scale: Int) throws
  /// dx[n,c,iy,ix] = Σ of dy over the k×k block that copies it.
  func upsample_nearest2d_bwd(dy: Tensor, dx: Tensor, scale: Int) throws
  /// Reflection padding of x [N,C,H,W] into y [N,C,H+top+bottom,W+left+right], as
  /// nn.ReflectionPad2d((left, right, top, bottom)): y[n,c,oy,ox] = x[n,c,r(oy−top, H),
  /// r(ox−left, W)] with r(i, s) = −i for i < 0, 2(s−1)−i for i ≥ s, else i (the edge row
  /// is not repeated). Each padding must be smaller than its axis (PyTorch's limit).
  func reflection_pad2d_fwd(x: Tensor, y: Tensor, padding: Padding2d) throws
  /// dx[n,c,iy,ix] = Σ of dy over every output position that reads input (iy, ix).
  func reflection_pad2d_bwd(dy: Tensor, dx: Tensor, padding: Padding2d) throws

  // MARK: Pointwise
  func activation_fwd(_ kind: Activation, x: Tensor, y: Tensor) throws
  /// dx from dy; relu/leaky/square read x, tanh/sigmoid/sqrt read y (the forward output).
  func activation_bwd(_ kind: Activation, x: Tensor, y: Tensor, dy: Tensor, dx: Tensor) throws
  /// y = a + b (same shapes).
  func add(_ a: Tensor, _ b: Tensor, y: Tensor) throws
  /// y = a ⊙ b (same shapes).
  func mul(_ a: Tensor, _ b: Tensor, y: Tensor) throws
  /// y = alpha·x.
  func scale(_ x: Tensor, alpha: Float, y: Tensor) throws
  /// y = x·s[0] for a one-element tensor s (a device-side scalar: no host read).
  func mul_scalar(_ x: Tensor, _ s: Tensor, y: Tensor) throws
  /// y = x / s[0] for a one-element tensor s (IEEE division: s[0] = 0 gives ±inf or NaN).
  func div_scalar(_ x: Tensor, _ s: Tensor, y: Tensor) throws
  /// y = min(max(x, min), max), as torch.clamp: NaN stays NaN, and min > max gives max
  /// everywhere. Pass ±infinity for a missing bound. y may be x.
  func clamp_fwd(_ x: Tensor, y: Tensor, min: Float, max: Float) throws
  /// dx = dy where min ≤ x ≤ max, else 0 (torch's clamp_backward: the bounds themselves
  /// pass the gradient; NaN inputs pass none).
  func clamp_bwd(x: Tensor, dy: Tensor, dx: Tensor, min: Float, max: Float) throws
  /// y[n, c, ...] = x[n, c, ...] + bias[c]: bias broadcast along axis 1.
  func add_channel(_ x: Tensor, bias: Tensor, y: Tensor) throws
  /// y[n, c, ...] = x[n, c, ...] · s[c].
  func mul_channel(_ x: Tensor, scale: Tensor, y: Tensor) throws
  /// Copies `count` channels of x starting at `xStart` into y starting at `yStart`
  /// (concat and slice along axis 1 are built from it).
  func copy_channels(x: Tensor, xStart: Int, y: Tensor, yStart: Int, count: Int) throws
  /// y [B, A, …] = x [A, B, …] with its first two axes swapped (torch's x.transpose(0, 1),
  /// made contiguous): spectral norm's view of a conv-transpose weight as [out, in·k·k].
  func transpose01(_ x: Tensor, y: Tensor) throws

  // MARK: Matrix
  /// c = alpha·op(a)·op(b) + beta·c, row-major 2-D tensors.
  func matmul(
    _ a: Tensor, transposeA: Bool, _ b: Tensor, transposeB: Bool, c: Tensor, alpha: Float,
    beta: Float) throws

  // MARK: Reductions
  /// y[0] = alpha·Σ x.
  func reduce_sum(_ x: Tensor, y: Tensor, alpha: Float) throws
  /// y[c] = Σ over every axis but 1 of x[n, c, ...] (bias gradients, channel statistics).
  func channel_sum(_ x: Tensor, y: Tensor) throws

  // MARK: Losses (mean over all elements; the loss is a one-element tensor)
  /// Binary cross-entropy on logits, stable for any |logit|:
  /// max(x,0) − x·t + log(1 + exp(−|x|)).
  func bce_logits_fwd(logits: Tensor, targets: Tensor, loss: Tensor) throws
  /// dlogits = dloss[0]·(sigmoid(x) − t)/N.
  func bce_logits_bwd(logits: Tensor, targets: Tensor, dloss: Tensor, dlogits: Tensor) throws
  /// loss[0] = mean over rows of −Σ_c t[r,c]·log_softmax(x[r])[c] for logits x [N, C] and
  /// target distributions t [N, C] (one-hot for class labels; rows need not sum to 1):
  /// torch's cross_entropy with probability targets, mean reduction. Stable for any logits.
  func softmax_cross_entropy_fwd(logits: Tensor, targets: Tensor, loss: Tensor) throws
  /// dlogits[r,c] = dloss[0]/N · (softmax(x[r])[c]·Σ_c' t[r,c'] − t[r,c]).
  func softmax_cross_entropy_bwd(logits: Tensor, targets: Tensor, dloss: Tensor, dlogits: Tensor) throws
  /// y = softmax of each row of x [N, C] (the last axis), computed stably.
  func softmax_fwd(_ x: Tensor, y: Tensor) throws
  func mse_fwd(x: Tensor, target: Tensor, loss: Tensor) throws
  func mse_bwd(x: Tensor, target: Tensor, dloss: Tensor, dx: Tensor) throws
  func l1_fwd(x: Tensor, target: Tensor, loss: Tensor) throws
  /// sign(x − t)·dloss/N with sign(0) = 0, as PyTorch.
  func l1_bwd(x: Tensor, target: Tensor, dloss: Tensor, dx: Tensor) throws

  // MARK: Optimisers (one fused kernel per parameter tensor)
  /// One Adam step at 1-based `step`, bias-corrected exactly as torch.optim.Adam.
  func adam_step(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, step: Int, params: AdamParams)
    throws
  /// One SGD step; `momentumBuffer` is required when momentum ≠ 0 (zeros before step 1).
  func sgd_step(param: Tensor, grad: Tensor, momentumBuffer: Tensor?, params: SGDParams) throws
  /// One RMSprop step exactly as torch.optim.RMSprop (Hinton's lecture 6e; centred as Graves
  /// 2013), all state zeros before step 1:
  ///   g = grad + wd·p;  v = α·v + (1 − α)·g²
  ///   centred: gAvg += (1 − α)·(g − gAvg) (torch's lerp_), denom = √(v − gAvg²) + eps,
  ///   else denom = √v + eps (eps outside the square root)
  ///   momentum > 0: b = μ·b + g/denom, p −= lr·b;  else p −= lr·g/denom.
  /// `momentumBuffer` is required when momentum > 0, `gradAvg` when centred.
  func rmsprop_step(
    param: Tensor, grad: Tensor, squareAvg: Tensor, momentumBuffer: Tensor?, gradAvg: Tensor?,
    params: RMSpropParams) throws
  /// Exponential moving average in place: ema = beta·ema + (1 − beta)·param, as
  /// `ema.mul_(beta).add_(param, alpha=1 − beta)`; beta = 0 copies param exactly (whatever
  /// ema held, NaN included). beta is Double as PyTorch holds it (1 − beta is formed in Double).
  func ema_update(ema: Tensor, param: Tensor, beta: Double) throws

  // MARK: Data

  /// Fills y [N, C, H, W] with N images of `source` [M, C, H, W] taken in the order of a
  /// seeded random permutation of the dataset, one permutation per epoch: sample i is item
  /// g = position + i of the endless stream, the image `DataOrder.index(g)`. With `flip`,
  /// about half the samples are mirrored left-right (`DataOrder.flips(g)`).
  func gather_images(source: Tensor, y: Tensor, order: DataOrder, position: UInt64, flip: Bool) throws
  /// `gather_images` from 8-bit images (a byte tensor from `makeByteBuffer`), each sample v
  /// becoming `DataOrder.unit(v)` = v / 127.5 − 1 exactly as the host computes it in float32.
  /// With `streamed`, source [N, C, H, W] already holds stream items position ..< position + N
  /// in order (a window a `BatchStream` uploaded): sample i is source image i, and only the
  /// flips follow `order`.
  func gather_images_u8(
    source: Tensor, y: Tensor, order: DataOrder, position: UInt64, flip: Bool, streamed: Bool) throws
  /// Mismatched conditions for a matching-aware conditional discriminator (Reed et al. 2016,
  /// "Generative Adversarial Text to Image Synthesis", GAN-CLS: real images paired with a
  /// condition that is not theirs). x and y are [N, D], one condition per row (D a one-hot
  /// class, a multi-hot tag set, an embedding). Row i of y is row j = (i + s) mod N of x for
  /// the smallest shift s in 1 ..< N whose row differs from row i in some element (IEEE
  /// equality on the stored values: −0 equals +0, a NaN differs from everything); if no row
  /// differs (a uniform batch, or N = 1), row i of y is zeros. So whenever the batch holds two
  /// distinct conditions, no row of y equals its row of x. The batch order is already random,
  /// so the pairing is too. Data, not differentiable; y must not share x's buffer.
  func mismatch_rows(x: Tensor, y: Tensor) throws
  /// Random crops, the last step of pix2pix's `resize_and_crop` preprocessing (load 286, crop
  /// 256): y [N, C, h, w] from x [N, C, H, W]. Sample i is stream item g = position + i; its
  /// window starts at row w0 mod (H − h + 1) and column w1 mod (W − w + 1), (w0, w1) the first
  /// two words of Philox block g under `seed`. Every channel of a sample shares the window, so a
  /// paired dataset that keeps A and B in one image's channels crops both alike. Data, not
  /// differentiable.
  func random_crop(x: Tensor, y: Tensor, seed: UInt64, position: UInt64) throws
  /// CycleGAN's history of generated images (Shrivastava et al. 2017; `ImagePool` of Zhu et
  /// al. 2017): pool [P, C, H, W] holds past fakes and is updated in place; x [N, C, H, W] are
  /// the new fakes, and y [N, C, H, W] what D is shown. Image i is item t = position + i of the
  /// stream of fakes. While the pool is filling (t < P) it is stored in slot t and shown itself.
  /// Afterwards, with Philox block t under `seed` = (w0, w1, …): when unit(w0) > 0.5 (unit the
  /// 24-bit uniform in [0, 1) of `Philox.unitOpen`), D is shown the image in slot w1 mod P and
  /// x[i] takes its place; otherwise D is shown x[i] and the pool is unchanged. Images are
  /// taken in batch order, so a later image can be shown one stored earlier in the same batch,
  /// as the reference's loop does. Data: no gradient; y must not share a buffer with the others.
  func image_pool(pool: Tensor, x: Tensor, y: Tensor, seed: UInt64, position: UInt64) throws
  /// A device buffer of `count` bytes for 8-bit images; only `gather_images_u8` and the byte
  /// writes below accept it.
  func makeByteBuffer(count: Int) throws -> DeviceBuffer
  /// Copies `bytes` into the byte tensor at byte `offset`; `bytes` may be reused on return.
  func write(bytes: UnsafeRawBufferPointer, to tensor: Tensor, offset: Int) throws
  /// Host memory to stream transfers through (page-locked where the device has it).
  func makeStagingBuffer(bytes: Int) throws -> StagingBuffer
  /// Enqueues a copy of the staging buffer's first bytes into the tensor (`tensor.count`
  /// bytes into a byte tensor, `tensor.count` floats into a float tensor) and returns at
  /// once; the staging buffer must not be written until `waitForTransfer`.
  func upload(_ staging: StagingBuffer, to tensor: Tensor) throws
  /// Enqueues a copy of the float tensor into the staging buffer's first `4·tensor.count`
  /// bytes, after everything enqueued before it, and returns at once: the values are there
  /// when `waitForTransfer` returns (from any thread).
  func download(_ tensor: Tensor, into staging: StagingBuffer) throws
  /// Device memory a dataset may take by default (`kallima train --data-memory` overrides):
  /// half the device's global memory, at most its largest single allocation.
  var defaultDataMemory: Int { get }

  // MARK: Random (Philox4x32-10; identical bits on every backend)
  func random_uniform(_ y: Tensor, stream: RandomStream, low: Float, high: Float) throws
  func random_normal(_ y: Tensor, stream: RandomStream, mean: Float, std: Float) throws
  /// Inverted-dropout mask: y[i] = u ≥ p ? 1/(1 − p) : 0 with u the value random_uniform
  /// (low 0, high 1) draws at i from the same stream (so a fraction p of zeros on average);
  /// 1/(1 − p) is formed in Float on the host, and p = 1 gives all zeros. 0 ≤ p ≤ 1.
  func dropout_mask(_ y: Tensor, stream: RandomStream, p: Float) throws

  // MARK: Double backprop
  /// y[n,c,oy,ox] = g[n,c, route of window (oy, ox) in x], the route chosen exactly as in
  /// `max_pool2d_bwd`; g and x are [N,C,H,W], y [N,C,OH,OW]. This is max_pool2d_bwd's
  /// derivative with respect to dy (its transpose), which double backprop needs.
  func max_pool2d_gather(x: Tensor, g: Tensor, y: Tensor, params: Pool2dParams) throws
}

/// 8-bit storage (`Backend.makeByteBuffer`): `count` is in bytes.
public protocol ByteBuffer: DeviceBuffer {}

/// Host memory a streamed dataset is staged in before `Backend.upload` (pinned on OpenCL).
public protocol StagingBuffer: AnyObject {
  /// The memory to fill; valid for the buffer's lifetime.
  var bytes: UnsafeMutableRawBufferPointer { get }
  /// Blocks until the last upload from this buffer has read it, or the last download into
  /// it has written it (at once when it has); returns whether it had to wait. A wait for an
  /// upload is what the backend counts as a staging wait (a stream that fell behind).
  @discardableResult func waitForTransfer() throws -> Bool
}

/// Real batches prepared on the host ahead of the device: a dataset too large for device
/// memory, streamed.
public protocol BatchStream: AnyObject {
  /// Enqueues the upload of stream items position ..< position + N (as 8-bit images in
  /// stream order) into `window` [N, C, H, W], a byte tensor; returns before the device has
  /// them. Consecutive calls are expected to ask for consecutive windows.
  func enqueueBatch(position: UInt64, into window: Tensor) throws
}

/// Backends that can time each kernel on the device (OpenCL profiling events).
public protocol KernelTiming: AnyObject {
  /// Whether timings can be collected (an OpenCL queue created with profiling enabled).
  var canTimeKernels: Bool { get }
  /// Starts recording every kernel enqueued from now on.
  func startKernelTimings()
  /// Kernels recorded so far since `startKernelTimings` (to attribute them to plan nodes).
  var recordedKernelCount: Int { get }
  /// Waits for the device, stops recording and returns each recorded kernel's name and
  /// device time in seconds, in enqueue order.
  func stopKernelTimings() throws -> [(name: String, seconds: Double)]
}

/// What crossed between host and device, and how often the host waited for the device.
public struct HostTraffic: Equatable, Sendable, CustomStringConvertible {
  /// `read` calls: each blocks until the value is known.
  public var blockingReads = 0
  /// `synchronize` calls.
  public var synchronizations = 0
  public var bytesToDevice = 0
  public var bytesFromDevice = 0
  /// Waits that bound the command queue (OpenCL): the host waits for a command enqueued
  /// hundreds of commands earlier, so the device stays busy; no data moves. Host waits too,
  /// counted apart: not in `hostWaits`.
  public var throttleWaits = 0
  /// Waits of a data stream's filler thread for an upload to finish reading its staging
  /// buffer (never the training thread's). Not counted in `hostWaits`.
  public var stagingWaits = 0

  public init() {}

  /// The traffic since `earlier`.
  public func since(_ earlier: HostTraffic) -> HostTraffic {
    var d = HostTraffic()
    d.blockingReads = blockingReads - earlier.blockingReads
    d.synchronizations = synchronizations - earlier.synchronizations
    d.bytesToDevice = bytesToDevice - earlier.bytesToDevice
    d.bytesFromDevice = bytesFromDevice - earlier.bytesFromDevice
    d.throttleWaits = throttleWaits - earlier.throttleWaits
    d.stagingWaits = stagingWaits - earlier.stagingWaits
    return d
  }

  /// Blocking reads plus synchronisations: the times the host waited for a result or an
  /// empty queue (the queue-bound waits, `throttleWaits`, come on top).
  public var hostWaits: Int { blockingReads + synchronizations }

  public var description: String {
    "\(blockingReads) blocking reads, \(synchronizations) synchronisations, \(bytesToDevice) B to device, \(bytesFromDevice) B from device, \(throttleWaits) queue-bound waits, \(stagingWaits) staging waits"
  }
}

extension Backend {
  /// A new tensor of the given shape (contents undefined).
  public func makeTensor(_ shape: Shape) throws -> Tensor {
    Tensor(shape: shape, buffer: try makeBuffer(count: max(shape.count, 1)))
  }

  /// A new tensor holding `values`.
  public func makeTensor(_ shape: Shape, values: [Float]) throws -> Tensor {
    guard values.count == shape.count else {
      throw KallimaError.shapeMismatch(
        op: "makeTensor", message: "\(values.count) values for shape \(shape)")
    }
    let t = try makeTensor(shape)
    try write(values, to: t)
    return t
  }

  /// A new byte tensor (8-bit images) of the given shape, contents undefined.
  public func makeByteTensor(_ shape: Shape) throws -> Tensor {
    Tensor(shape: shape, buffer: try makeByteBuffer(count: max(shape.count, 1)))
  }

  /// A new zero tensor.
  public func zeros(_ shape: Shape) throws -> Tensor {
    let t = try makeTensor(shape)
    try fill(t, value: 0)
    return t
  }
}
