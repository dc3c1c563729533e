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
    // PoCL 3.1 on a 2-core AVX-512 Xeon under KVM (the development machine), the GEMM shapes
    // of a DCGAN-64 training step at batch 64 (`kallima tune --budget 900`, 2026-11-29).
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
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 23.988040181407037,
          "clblastSeconds" : 0.17904619400000002,
          "gflops" : 137.2398744081026,
          "runnerUp" : "kernel 8x2x16u4",
          "runnerUpSeconds" : 0.039076619,
          "seconds" : 0.031295331,
          "shape" : {
            "k" : 512,
            "m" : 4096,
            "n" : 1024
          }
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 24.538420909453365,
          "clblastSeconds" : 0.175030305,
          "gflops" : 112.02193320082563,
          "runnerUp" : "kernel 8x2x16u4",
          "runnerUpSeconds" : 0.04314898,
          "seconds" : 0.038340414,
          "shape" : {
            "k" : 256,
            "m" : 2048,
            "n" : 4096
          }
        },
        {
          "algorithm" : "kernel 6x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 20.165105705796023,
          "clblastSeconds" : 0.212990071,
          "gflops" : 122.99788759900653,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 0.052489013,
          "seconds" : 0.034919033,
          "shape" : {
            "k" : 128,
            "m" : 1024,
            "n" : 16384
          }
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 20.271751128022984,
          "clblastSeconds" : 0.211869575,
          "gflops" : 101.13382586548725,
          "runnerUp" : "kernel 6x2x16u1",
          "runnerUpSeconds" : 0.043019275,
          "seconds" : 0.042468158000000006,
          "shape" : {
            "k" : 1024,
            "m" : 512,
            "n" : 4096
          }
        },
        {
          "algorithm" : "kernel 12x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 20.624591114367725,
          "clblastSeconds" : 0.208244967,
          "gflops" : 63.674433212801674,
          "runnerUp" : "kernel 8x2x16u4",
          "runnerUpSeconds" : 0.07295757700000001,
          "seconds" : 0.067451991,
          "shape" : {
            "k" : 4096,
            "m" : 512,
            "n" : 1024
          }
        },
        {
          "algorithm" : "kernel 6x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 14.793188108998129,
          "clblastSeconds" : 0.290334123,
          "gflops" : 59.50138836706443,
          "runnerUp" : "kernel 12x2x16u1",
          "runnerUpSeconds" : 0.074416126,
          "seconds" : 0.07218264,
          "shape" : {
            "k" : 2048,
            "m" : 256,
            "n" : 4096
          }
        },
        {
          "algorithm" : "kernel 8x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 14.657640458207814,
          "clblastSeconds" : 0.29301901,
          "gflops" : 50.74769644763065,
          "runnerUp" : "kernel 12x2x16u1",
          "runnerUpSeconds" : 0.086856313,
          "seconds" : 0.084633739,
          "shape" : {
            "k" : 4096,
            "m" : 256,
            "n" : 2048
          }
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 15.412318198390993,
          "clblastSeconds" : 0.278671076,
          "gflops" : 106.41229769833774,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 0.04409346,
          "seconds" : 0.040361569,
          "shape" : {
            "k" : 1024,
            "m" : 128,
            "n" : 16384
          }
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 15.394646271167845,
          "clblastSeconds" : 0.27899097,
          "gflops" : 33.0930739582978,
          "runnerUp" : "kernel 6x2x16u4",
          "runnerUpSeconds" : 0.132634734,
          "seconds" : 0.129784477,
          "shape" : {
            "k" : 16384,
            "m" : 128,
            "n" : 1024
          }
        },
        {
          "algorithm" : "kernel 6x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 6.116066980649123,
          "clblastSeconds" : 0.065835313,
          "gflops" : 84.24191433607582,
          "runnerUp" : "kernel 6x2x16u1",
          "runnerUpSeconds" : 0.005292939,
          "seconds" : 0.004779725,
          "shape" : {
            "k" : 48,
            "m" : 64,
            "n" : 65536
          }
        },
        {
          "algorithm" : "kernel 8x3x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 1.9466308857483385,
          "clblastSeconds" : 0.206846191,
          "gflops" : 80.05429771772002,
          "runnerUp" : "kernel 8x3x16u1",
          "runnerUpSeconds" : 0.005902939,
          "seconds" : 0.005029751000000001,
          "shape" : {
            "k" : 65536,
            "m" : 64,
            "n" : 48
          }
        },
        {
          "algorithm" : "kernel 6x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 6.080713574287966,
          "clblastSeconds" : 0.066218081,
          "gflops" : 107.71847938504241,
          "runnerUp" : "kernel 6x4x16u1",
          "runnerUpSeconds" : 0.005482086000000001,
          "seconds" : 0.0037380140000000004,
          "shape" : {
            "k" : 64,
            "m" : 48,
            "n" : 65536
          }
        },
        {
          "algorithm" : "kernel 4x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 9.940737212692278,
          "clblastSeconds" : 0.010548272000000001,
          "gflops" : 146.2073888988042,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 0.0007643120000000001,
          "seconds" : 0.000717184,
          "shape" : {
            "k" : 100,
            "m" : 8192,
            "n" : 64
          }
        },
        {
          "algorithm" : "kernel 6x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 21.658201956305444,
          "clblastSeconds" : 0.004841473000000001,
          "gflops" : 121.77338436954177,
          "runnerUp" : "kernel 6x2x16u4",
          "runnerUpSeconds" : 0.0008752250000000001,
          "seconds" : 0.0008610880000000001,
          "shape" : {
            "k" : 64,
            "m" : 100,
            "n" : 8192
          }
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 1.0371138180825514,
          "clblastSeconds" : 0.0010110520000000001,
          "gflops" : 10.152848110458079,
          "runnerUp" : "kernel 4x4x16u1",
          "runnerUpSeconds" : 0.00011599100000000001,
          "seconds" : 0.00010327900000000001,
          "shape" : {
            "k" : 1,
            "m" : 8192,
            "n" : 64
          }
        },
        {
          "algorithm" : "kernel 6x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.2925691428749998,
          "clblastSeconds" : 0.0035840280000000004,
          "gflops" : 13.484253436724405,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 8.1494e-05,
          "seconds" : 7.776300000000001e-05,
          "shape" : {
            "k" : 64,
            "m" : 1,
            "n" : 8192
          }
        },
        {
          "algorithm" : "kernel 6x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.28233345351044153,
          "clblastSeconds" : 0.0037139630000000002,
          "gflops" : 12.93292878462715,
          "runnerUp" : "kernel 4x4x16u4",
          "runnerUpSeconds" : 0.00011847700000000001,
          "seconds" : 8.1078e-05,
          "shape" : {
            "k" : 8192,
            "m" : 1,
            "n" : 64
          }
        }
      ],
      "measured" : {
        "budgetSeconds" : 900,
        "command" : "kallima tune --budget 900",
        "complete" : true,
        "date" : "2026-11-29T05:12:09Z",
        "repetitions" : 3,
        "secondsSpent" : 74.0400310754776
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
