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
  /// No OpenCL platform or device could be used.
  case noDevice(String)
  /// A device allocation failed.
  case outOfMemory(device: String, bytes: Int)
  /// A tensor belonging to another backend was passed in.
  case wrongBackend(op: String, expected: String, got: String)
  /// A file could not be read or written.
  case io(path: String, message: String)

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
    }
  }
  public var errorDescription: String? { description }
}
