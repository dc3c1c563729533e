import Foundation

/// Every error Kallima throws. Each message says what happened and what to do about it.
public enum KallimaError: Error, CustomStringConvertible, LocalizedError {
  /// Tensors whose shapes do not fit the op.
  case shapeMismatch(op: String, message: String)
  /// An argument outside what the op supports.
  case invalidArgument(op: String, message: String)
  /// An OpenCL or CLBlast call returned an error status.
  case openCL(call: String, code: Int32, name: String)
  /// An OpenCL program failed to build; carries the full compiler log.
  case kernelBuild(file: String, device: String, options: String, log: String)
  /// No OpenCL platform or device could be used: none was found, or the one chosen cannot
  /// run the job (what it lacks, and what to change).
  case noDevice(String)
  /// A device allocation failed.
  case outOfMemory(device: String, bytes: Int)
  /// A tensor belonging to another backend was passed in.
  case wrongBackend(op: String, expected: String, got: String)
  /// A file could not be read or written.
  case io(path: String, message: String)
  /// Training produced a non-finite loss or weight; the last good checkpoint is kept.
  case diverged(String)
  /// A collective operation between the ranks of a data-parallel job failed (MPI).
  case communication(String)

  public var description: String {
    switch self {
    case .shapeMismatch(let op, let message): return "\(op): shape mismatch: \(message)"
    case .invalidArgument(let op, let message): return "\(op): \(message)"
    case .openCL(let call, let code, let name): return "\(call) failed with \(name) (\(code))"
    case .kernelBuild(let file, let device, let options, let log):
      return """
        OpenCL program \(file) failed to build for \(device)
        build options: \(options.isEmpty ? "(none)" : options)
        build log:
        \(log)
        """
    case .noDevice(let message): return message
    case .outOfMemory(let device, let bytes):
      return "out of device memory on \(device): could not allocate \(bytes) bytes "
        + "(\(String(format: "%.1f", Double(bytes) / 1_048_576)) MiB); use a smaller batch or model"
    case .wrongBackend(let op, let expected, let got):
      return "\(op): tensor lives on backend \(got), expected \(expected); copy it first"
    case .io(let path, let message): return "\(path): \(message)"
    case .diverged(let message): return message
    case .communication(let message): return message
    }
  }
  public var errorDescription: String? { description }

  /// Whether `error` is a training divergence.
  public static func isDivergence(_ error: Error) -> Bool {
    if case .diverged = error as? KallimaError { return true }
    return false
  }

  /// The process exit status `kallima` ends with on this error: 1 bad input (arguments,
  /// files, shapes), 2 device failure (no usable device, an OpenCL error, a kernel that does
  /// not build, out of device memory, a failed MPI operation), 3 training diverged. (0 is success, 64 a command line
  /// the parser rejects, 128 + n a stop by signal n with a checkpoint written.)
  public var exitStatus: Int32 {
    switch self {
    case .shapeMismatch, .invalidArgument, .wrongBackend, .io: return 1
    case .openCL, .kernelBuild, .noDevice, .outOfMemory, .communication: return 2
    case .diverged: return 3
    }
  }
}
