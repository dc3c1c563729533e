import Foundation
import PackagePlugin

/// Embeds every `Kernels/*.cl` file into the target as Swift string literals, so the
/// built binary carries its kernels and still runs when copied elsewhere.
@main
struct EmbedKernels: BuildToolPlugin {
  func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
    let kernelDirectory = context.package.directoryURL.appending(path: "Kernels")
    let sources = try FileManager.default
      .contentsOfDirectory(at: kernelDirectory, includingPropertiesForKeys: nil)
      .filter { $0.pathExtension == "cl" || $0.pathExtension == "h" }
      .sorted { $0.lastPathComponent < $1.lastPathComponent }
    let output = context.pluginWorkDirectoryURL.appending(path: "KernelSources.swift")
    return [
      .buildCommand(
        displayName: "Embedding \(sources.count) OpenCL kernel files",
        executable: try context.tool(named: "kallima-embed-kernels").url,
        arguments: [output.path] + sources.map(\.path),
        inputFiles: sources,
        outputFiles: [output])
    ]
  }
}
