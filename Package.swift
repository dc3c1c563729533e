// swift-tools-version:6.1
// Kallima: GAN training on any OpenCL device, from Swift.
// Layering (each target depends only on the ones above it):
//   CKallima (C shim) -> KallimaCore (shapes, tensors, the op set as a Backend protocol)
//   -> KallimaCPU (reference backend) / KallimaOpenCL (device backend)
//   -> KallimaGraph (graph IR, autodiff, memory planning, the plan executor)
//   -> KallimaNN (layers, parameter stores, Sequential and the result builder)
//   -> KallimaGAN (recipes: DCGAN, objectives, optimisers, the general GAN trainer)
//   -> KallimaData (image and dataset I/O, safetensors)
//   -> KallimaEval (Fréchet distance and the other generator metrics)
//   -> KallimaTrain (the training run: checkpoints, samples, metrics, resume)
//   -> KallimaOpSuite (one description per op: parity tests and benchmarks share it)
//   -> kallima (command line)
// KallimaMPI (data-parallel jobs) sits beside KallimaCore; with the MPI trait
// (`swift build --traits MPI`) it runs over MPI through CMPI, without it a job is one process.
import PackageDescription

let package = Package(
  name: "Kallima",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "kallima", targets: ["kallima"]),
    .library(name: "KallimaCore", targets: ["KallimaCore"]),
    .library(name: "KallimaCPU", targets: ["KallimaCPU"]),
    .library(name: "KallimaOpenCL", targets: ["KallimaOpenCL"]),
  ],
  traits: [
    .trait(
      name: "MPI",
      description: "Data-parallel training over MPI under mpirun (needs libopenmpi-dev or libmpich-dev: pkg-config mpi-c).")
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
  ],
  targets: [
    .target(
      name: "CKallima",
      linkerSettings: [
        .linkedLibrary("OpenCL"), .linkedLibrary("clblast"), .linkedLibrary("png"), .linkedLibrary("jpeg"),
        .linkedLibrary("z"),
      ]),
    // BLAS + LAPACK in Double (OpenBLAS) for the host Fréchet distance.
    .systemLibrary(name: "CLapack", path: "Sources/CLapack"),
    .target(name: "KallimaCore"),
    // MPI's C API through a few wrappers (its handles are macros Swift cannot import).
    .systemLibrary(name: "CMPI", pkgConfig: "mpi-c", providers: [.apt(["libopenmpi-dev"])]),
    .target(
      name: "KallimaMPI",
      dependencies: ["KallimaCore", .target(name: "CMPI", condition: .when(traits: ["MPI"]))],
      swiftSettings: [.define("MPI", .when(traits: ["MPI"]))]),
    .target(name: "KallimaCPU", dependencies: ["KallimaCore"]),
    .target(name: "KallimaGraph", dependencies: ["KallimaCore"]),
    .target(name: "KallimaNN", dependencies: ["KallimaCore", "KallimaGraph"]),
    .target(name: "KallimaGAN", dependencies: ["KallimaCore", "KallimaGraph", "KallimaNN"]),
    .target(name: "KallimaData", dependencies: ["CKallima", "KallimaCore"]),
    .target(name: "KallimaTrain", dependencies: ["KallimaCore", "KallimaGraph", "KallimaGAN", "KallimaData", "KallimaEval"]),
    .target(
      name: "KallimaEval",
      dependencies: [
        "CKallima", "CLapack", "KallimaCore", "KallimaGraph", "KallimaData", "KallimaGAN",
        .product(name: "ZIPFoundation", package: "ZIPFoundation"),
      ]),
    .executableTarget(name: "kallima-embed-kernels"),
    .plugin(name: "EmbedKernels", capability: .buildTool(), dependencies: ["kallima-embed-kernels"]),
    .target(
      name: "KallimaOpenCL", dependencies: ["CKallima", "KallimaCore"],
      plugins: ["EmbedKernels"]),
    .target(
      name: "KallimaOpSuite", dependencies: ["KallimaCore", "KallimaCPU", "KallimaOpenCL"]),
    .target(
      name: "KallimaSelfTest", dependencies: ["KallimaCore", "KallimaCPU", "KallimaGAN", "KallimaOpSuite"]),
    .target(
      name: "KallimaBenchmarks",
      dependencies: ["KallimaOpSuite", "KallimaOpenCL", "KallimaCPU", "KallimaGraph", "KallimaGAN"],
      path: "Benchmarks/KallimaBenchmarks"),
    .executableTarget(
      name: "kallima",
      dependencies: [
        "KallimaCore", "KallimaCPU", "KallimaOpenCL", "KallimaBenchmarks", "KallimaGAN", "KallimaTrain", "KallimaData", "KallimaEval",
        "KallimaSelfTest", "KallimaMPI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    // One libFuzzer target per file parser (Scripts/fuzz.sh builds it with -sanitize=fuzzer,address
    // and -DKALLIMA_FUZZ); a plain build is a replay tool: kallima-fuzz TARGET FILE...
    .executableTarget(
      name: "kallima-fuzz", dependencies: ["KallimaData", "KallimaEval", "KallimaGAN", "KallimaTrain"], path: "Fuzz/Sources"),
    .testTarget(name: "KallimaCPUTests", dependencies: ["KallimaCore", "KallimaCPU", "KallimaOpSuite"]),
    .testTarget(
      name: "KallimaGraphTests", dependencies: ["KallimaCore", "KallimaCPU", "KallimaOpenCL", "KallimaGraph", "KallimaNN"]),
    .testTarget(name: "KallimaDataTests", dependencies: ["KallimaCore", "KallimaData"], resources: [.copy("Fixtures")]),
    .testTarget(
      name: "KallimaEvalTests",
      dependencies: ["KallimaCore", "KallimaCPU", "KallimaOpenCL", "KallimaEval", "KallimaGAN", "KallimaData"],
      resources: [.copy("Fixtures")]),
    .testTarget(
      name: "KallimaTrainTests",
      dependencies: ["KallimaCore", "KallimaCPU", "KallimaOpenCL", "KallimaGAN", "KallimaTrain", "KallimaData"]),
    .testTarget(
      name: "KallimaGANTests",
      dependencies: ["KallimaCore", "KallimaCPU", "KallimaOpenCL", "KallimaGraph", "KallimaGAN", "KallimaSelfTest"],
      resources: [.copy("Fixtures")]),
    .testTarget(
      name: "KallimaOpenCLTests",
      dependencies: ["KallimaCore", "KallimaCPU", "KallimaOpenCL", "KallimaOpSuite", "KallimaSelfTest"],
      resources: [.copy("Fixtures")]),
  ],
  swiftLanguageModes: [.v5]
)
