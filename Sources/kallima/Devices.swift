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
      try printJSON(listing)
      return
    }
    if let message = listing.openCLError { printError(message) }
    var table = TextTable(
      header: ["selector", "platform", "device", "type", "driver", "CUs", "memory", "max alloc", "OpenCL C", "tuning"],
      leftAligned: [0, 1, 2, 3, 4, 8, 9])
    for d in listing.devices {
      table.append([
        d.selector, d.platform, d.name, d.type, d.driverVersion, d.computeUnits.map(String.init) ?? "-",
        gib(d.globalMemoryBytes), gib(d.maxAllocationBytes), d.openCLCVersion ?? "-", d.tuning ?? "-",
      ])
    }
    table.render().forEach { print($0) }
    print("default: \(listing.defaultDevice) (--device, else $KALLIMA_DEVICE, else opencl = the first OpenCL device)")
    if listing.devices.contains(where: { $0.tuning == "untuned" }) {
      print("tuning: `kallima tune --device SELECTOR` measures an untuned device's GEMM choices (saved in the cache folder)")
    }
  }

  func gib(_ bytes: Int?) -> String {
    bytes.map { String(format: "%.1f GiB", Double($0) / Double(1 << 30)) } ?? "-"
  }
}
