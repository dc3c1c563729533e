import Foundation

/// Tuning tables measured with `kallima tune` on devices Kallima is developed on, compiled
/// into the binary so that the same device starts tuned on a fresh install. A user's own
/// table (in the cache folder) takes precedence; see `DeviceTuning`.
///
/// Each entry is the JSON `kallima tune` wrote, verbatim (a test checks each decodes and
/// names its device). To add one: run `kallima tune` on the device, and paste the file it
/// names between a new pair of `#"""` `"""#`.
enum ShippedTuning {
  static let json: [String] = [
    // PoCL 3.1 on a 2-core AVX-512 Xeon under KVM (the development machine): the 17 GEMM
    // shapes a DCGAN-64 training step at batch 64 records, tuned with main's k-slicing of
    // long reductions (31ebfd1) by `kallima tune --shapes ... --budget 900 --repetitions 5`
    // on 2026-11-29. One pass over the shapes: 341 ms with the winners, 484 ms with the
    // untuned tile (1.42x), 1811 ms with CLBlast (5.31x).
    #"""
    {
      "clblast" : {
        "GemmRoutine" : {
          "XGEMM_MIN_INDIRECT_SIZE" : 128
        },
        "Xgemm" : {
          "GEMMK" : 0,
          "KREG" : 1,
          "KWG" : 32,
          "KWI" : 4,
          "MDIMA" : 8,
          "MDIMC" : 8,
          "MWG" : 128,
          "NDIMB" : 8,
          "NDIMC" : 8,
          "NWG" : 128,
          "SA" : 0,
          "SB" : 0,
          "STRM" : 1,
          "STRN" : 1,
          "VWM" : 8,
          "VWN" : 8
        }
      },
      "device" : {
        "device" : "pthread-skylake-avx512-Intel(R) Xeon(R) Processor",
        "driverVersion" : "3.1+debian",
        "platform" : "Portable Computing Language"
      },
      "fallback" : "kernel 6x4x16u4",
      "format" : "kallima-tuning-1",
      "gemm" : [
        {
          "algorithm" : "kernel 6x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 21.982367130907768,
          "clblastSeconds" : 0.19538238400000002,
          "gflops" : 133.96021878318717,
          "runnerUp" : "kernel 6x4x16u1",
          "runnerUpSeconds" : 0.035809594,
          "seconds" : 0.032061513,
          "shape" : {
            "k" : 512,
            "m" : 4096,
            "n" : 1024
          },
          "untunedGflops" : 80.88261925489158,
          "untunedSeconds" : 0.053101239
        },
        {
          "algorithm" : "kernel 6x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 54.65967818376278,
          "clblastSeconds" : 0.07857652000000001,
          "gflops" : 115.17410074890283,
          "runnerUp" : "kernel 6x4x16u1",
          "runnerUpSeconds" : 0.041862417000000006,
          "seconds" : 0.037291086,
          "shape" : {
            "k" : 256,
            "m" : 2048,
            "n" : 4096
          },
          "untunedGflops" : 80.05207946505196,
          "untunedSeconds" : 0.053652164
        },
        {
          "algorithm" : "kernel 6x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 38.46936147297341,
          "clblastSeconds" : 0.11164644100000001,
          "gflops" : 169.84070702674117,
          "runnerUp" : "kernel 6x4x16u1",
          "runnerUpSeconds" : 0.025578459,
          "seconds" : 0.025288209000000002,
          "shape" : {
            "k" : 128,
            "m" : 1024,
            "n" : 16384
          },
          "untunedGflops" : 141.55385845633532,
          "untunedSeconds" : 0.030341577
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 22.864504357307666,
          "clblastSeconds" : 0.187844321,
          "gflops" : 134.9213258491375,
          "runnerUp" : "kernel 6x2x16u1",
          "runnerUpSeconds" : 0.037357730000000006,
          "seconds" : 0.031833124000000004,
          "shape" : {
            "k" : 1024,
            "m" : 512,
            "n" : 4096
          },
          "untunedGflops" : 77.71454064783696,
          "untunedSeconds" : 0.055265942000000005
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 24.210976154137708,
          "clblastSeconds" : 0.177397527,
          "gflops" : 108.1746613723225,
          "runnerUp" : "kernel 6x2x16u4",
          "runnerUpSeconds" : 0.041427370000000005,
          "seconds" : 0.039704005,
          "shape" : {
            "k" : 4096,
            "m" : 512,
            "n" : 1024
          },
          "untunedGflops" : 92.77586321307705,
          "untunedSeconds" : 0.046294016
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 18.874090602476986,
          "clblastSeconds" : 0.2275589,
          "gflops" : 124.35602692237279,
          "runnerUp" : "kernel 6x4x16u1",
          "runnerUpSeconds" : 0.036422677,
          "seconds" : 0.034537669,
          "shape" : {
            "k" : 2048,
            "m" : 256,
            "n" : 4096
          },
          "untunedGflops" : 87.01644740887458,
          "untunedSeconds" : 0.049358109000000004
        },
        {
          "algorithm" : "kernel 6x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 21.39489168587979,
          "clblastSeconds" : 0.200747326,
          "gflops" : 80.2956265564991,
          "runnerUp" : "kernel 8x2x16u4",
          "runnerUpSeconds" : 0.05986049,
          "seconds" : 0.053489430000000004,
          "shape" : {
            "k" : 4096,
            "m" : 256,
            "n" : 2048
          },
          "untunedGflops" : 71.74961808698859,
          "untunedSeconds" : 0.05986049
        },
        {
          "algorithm" : "kernel 6x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 21.617114273355224,
          "clblastSeconds" : 0.19868365600000001,
          "gflops" : 117.66417965525638,
          "runnerUp" : "kernel 4x4x16u4",
          "runnerUpSeconds" : 0.040905355000000004,
          "seconds" : 0.036501910000000005,
          "shape" : {
            "k" : 1024,
            "m" : 128,
            "n" : 16384
          },
          "untunedGflops" : 73.860309057618,
          "untunedSeconds" : 0.05814986900000001
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 22.687650196557364,
          "clblastSeconds" : 0.18930860000000002,
          "gflops" : 110.43119960461472,
          "runnerUp" : "kernel 4x4x16u4",
          "runnerUpSeconds" : 0.043370289,
          "seconds" : 0.038892698,
          "shape" : {
            "k" : 16384,
            "m" : 128,
            "n" : 1024
          },
          "untunedGflops" : 79.59669494956145,
          "untunedSeconds" : 0.053959116
        },
        {
          "algorithm" : "kernel 6x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 7.292118697331656,
          "clblastSeconds" : 0.055217585000000007,
          "gflops" : 94.66639300266539,
          "runnerUp" : "kernel 14x2x16u4",
          "runnerUpSeconds" : 0.005668417,
          "seconds" : 0.0042533910000000005,
          "shape" : {
            "k" : 48,
            "m" : 64,
            "n" : 65536
          },
          "untunedGflops" : 59.35164373199123,
          "untunedSeconds" : 0.006784196
        },
        {
          "algorithm" : "kernel 4x3x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 3.912931837664825,
          "clblastSeconds" : 0.102903194,
          "gflops" : 147.18023468966655,
          "runnerUp" : "kernel 6x3x16u4",
          "runnerUpSeconds" : 0.004613324,
          "seconds" : 0.0027357830000000003,
          "shape" : {
            "k" : 65536,
            "m" : 64,
            "n" : 48
          },
          "untunedGflops" : 51.064752739612146,
          "untunedSeconds" : 0.007885149000000001
        },
        {
          "algorithm" : "kernel 6x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 6.4252493691927866,
          "clblastSeconds" : 0.06266732400000001,
          "gflops" : 149.20590919651778,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 0.005450158,
          "seconds" : 0.0026986410000000003,
          "shape" : {
            "k" : 64,
            "m" : 48,
            "n" : 65536
          },
          "untunedGflops" : 59.473866711647744,
          "untunedSeconds" : 0.006770254000000001
        },
        {
          "algorithm" : "kernel 6x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 11.219061414051367,
          "clblastSeconds" : 0.009346379,
          "gflops" : 183.9145617853766,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 0.00058934,
          "seconds" : 0.0005701430000000001,
          "shape" : {
            "k" : 100,
            "m" : 8192,
            "n" : 64
          },
          "untunedGflops" : 114.16725460991054,
          "untunedSeconds" : 0.000918456
        },
        {
          "algorithm" : "kernel 4x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 19.28006097095697,
          "clblastSeconds" : 0.005438655000000001,
          "gflops" : 154.79421316799528,
          "runnerUp" : "kernel 6x4x16u1",
          "runnerUpSeconds" : 0.000735645,
          "seconds" : 0.0006774000000000001,
          "shape" : {
            "k" : 64,
            "m" : 100,
            "n" : 8192
          },
          "untunedGflops" : 69.254489987722,
          "untunedSeconds" : 0.0015140910000000002
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.720554907320747,
          "clblastSeconds" : 0.0014552340000000001,
          "gflops" : 8.311016351343854,
          "runnerUp" : "kernel 8x2x16u1",
          "runnerUpSeconds" : 0.000128595,
          "seconds" : 0.000126167,
          "shape" : {
            "k" : 1,
            "m" : 8192,
            "n" : 64
          },
          "untunedGflops" : 7.108218769489411,
          "untunedSeconds" : 0.00014751600000000002
        },
        {
          "algorithm" : "kernel 6x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.31783486636747593,
          "clblastSeconds" : 0.0032991220000000003,
          "gflops" : 12.196289619075312,
          "runnerUp" : "kernel 4x4x16u4",
          "runnerUpSeconds" : 9.2558e-05,
          "seconds" : 8.5975e-05,
          "shape" : {
            "k" : 64,
            "m" : 1,
            "n" : 8192
          },
          "untunedGflops" : 6.918416763985932,
          "untunedSeconds" : 0.000151563
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.3406199385791607,
          "clblastSeconds" : 0.003078434,
          "gflops" : 11.963353831760772,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 9.9454e-05,
          "seconds" : 8.7649e-05,
          "shape" : {
            "k" : 8192,
            "m" : 1,
            "n" : 64
          },
          "untunedGflops" : 7.566193077272759,
          "untunedSeconds" : 0.00013858700000000002
        }
      ],
      "measured" : {
        "budgetSeconds" : 900,
        "command" : "kallima tune --shapes 4096x1024x512,2048x4096x256,1024x16384x128,512x4096x1024,512x1024x4096,256x4096x2048,256x2048x4096,128x16384x1024,128x1024x16384,64x65536x48,64x48x65536,48x65536x64,8192x64x100,100x8192x64,8192x64x1,1x8192x64,1x64x8192 --budget 900 --repetitions 5",
        "complete" : true,
        "date" : "2026-11-29T05:54:04Z",
        "repetitions" : 5,
        "secondsSpent" : 117.04306972026825
      }
    }
    """#,
  ]

  /// The entries that decode (a bad one is reported once and skipped, never fatal).
  static let tables: [TuningTable] = json.enumerated().compactMap { index, text in
    do {
      return try TuningTable.decode(Data(text.utf8), origin: "shipped tuning table \(index)")
    } catch {
      DeviceTuning.warnOnce("kallima: ignoring \(error)")
      return nil
    }
  }
}
