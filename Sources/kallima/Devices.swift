import ArgumentParser
import Foundation
import KallimaBenchmarks
import KallimaCore
import KallimaOpenCL

/// `kallima devices`: every OpenCL device, and the CPU reference backend.
struct Devices: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List the devices Kallima can run on (the selector column is what --device takes).")

  @Flag(help: "Print JSON instead of a table.")
  var json = false

  struct Listing: Codable {
    var devices: [DeviceSummary]
    /// Why no OpenCL device is listed, when none is.
    var openCLError: String?
    /// What a command without --device uses.
    var defaultDevice: String
  }

  func run() throws {
    var listing = Listing(devices: [], openCLError: nil, defaultDevice: DeviceSelection.selector(nil))
    do {
      listing.devices = try OpenCL.devices().map(DeviceSummary.init)
    } catch let error as KallimaError {
      listing.openCLError = error.description
    }
    listing.devices.append(.cpuReference)
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try encoder.encode(listing), as: UTF8.self))
      return
    }
    if let message = listing.openCLError { printError(message) }
    var table = TextTable(
      header: ["selector", "platform", "device", "type", "driver", "CUs", "memory", "max alloc", "OpenCL C"],
      leftAligned: [0, 1, 2, 3, 4, 8])
    for d in listing.devices {
      table.append([
        d.selector, d.platform, d.name, d.type, d.driverVersion, d.computeUnits.map(String.init) ?? "-",
        gib(d.globalMemoryBytes), gib(d.maxAllocationBytes), d.openCLCVersion ?? "-",
      ])
    }
    table.render().forEach { print($0) }
    print("default: \(listing.defaultDevice) (--device, else $KALLIMA_DEVICE, else opencl = the first OpenCL device)")
  }

  func gib(_ bytes: Int?) -> String {
    bytes.map { String(format: "%.1f GiB", Double($0) / Double(1 << 30)) } ?? "-"
  }
}
