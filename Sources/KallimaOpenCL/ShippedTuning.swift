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
    // of a DCGAN-64 training step at batch 64 (`kallima tune --budget 900 --repetitions 5`,
    // 2026-11-29; 1.37x the untuned choice and 4.9x CLBlast over one pass of the shapes).
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
      "fallback" : "kernel 8x3x16u4",
      "format" : "kallima-tuning-1",
      "gemm" : [
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 27.234566743094184,
          "clblastSeconds" : 0.157702795,
          "gflops" : 136.29268186183504,
          "runnerUp" : "kernel 6x2x16u4",
          "runnerUpSeconds" : 0.035123433,
          "seconds" : 0.031512824,
          "shape" : {
            "k" : 512,
            "m" : 4096,
            "n" : 1024
          },
          "untunedGflops" : 84.5629119679995,
          "untunedSeconds" : 0.050790201
        },
        {
          "algorithm" : "kernel 14x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 22.12230969612044,
          "clblastSeconds" : 0.194146423,
          "gflops" : 135.30761391664683,
          "runnerUp" : "kernel 4x2x16u4",
          "runnerUpSeconds" : 0.043099358000000004,
          "seconds" : 0.031742244,
          "shape" : {
            "k" : 256,
            "m" : 2048,
            "n" : 4096
          },
          "untunedGflops" : 90.64690122844264,
          "untunedSeconds" : 0.047381292000000005
        },
        {
          "algorithm" : "kernel 6x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 17.532892788050688,
          "clblastSeconds" : 0.24496626700000002,
          "gflops" : 108.11022927396594,
          "runnerUp" : "kernel 6x2x16u4",
          "runnerUpSeconds" : 0.041227359000000005,
          "seconds" : 0.039727668,
          "shape" : {
            "k" : 128,
            "m" : 1024,
            "n" : 16384
          },
          "untunedGflops" : 79.79333343266548,
          "untunedSeconds" : 0.053826142
        },
        {
          "algorithm" : "kernel 6x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 27.238576459932222,
          "clblastSeconds" : 0.15767958,
          "gflops" : 132.6971226441254,
          "runnerUp" : "kernel 8x2x16u4",
          "runnerUpSeconds" : 0.038709557000000006,
          "seconds" : 0.032366695,
          "shape" : {
            "k" : 1024,
            "m" : 512,
            "n" : 4096
          },
          "untunedGflops" : 110.953666971699,
          "untunedSeconds" : 0.038709557000000006
        },
        {
          "algorithm" : "kernel 14x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 22.282262446822614,
          "clblastSeconds" : 0.192752747,
          "gflops" : 85.42619075171206,
          "runnerUp" : "kernel 8x2x16u4",
          "runnerUpSeconds" : 0.055589694,
          "seconds" : 0.050276938,
          "shape" : {
            "k" : 4096,
            "m" : 512,
            "n" : 1024
          },
          "untunedGflops" : 77.261934487353,
          "untunedSeconds" : 0.055589694
        },
        {
          "algorithm" : "kernel 12x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 15.392811929295727,
          "clblastSeconds" : 0.279024217,
          "gflops" : 65.52087749034243,
          "runnerUp" : "kernel 8x2x16u4",
          "runnerUpSeconds" : 0.06969552600000001,
          "seconds" : 0.065551126,
          "shape" : {
            "k" : 2048,
            "m" : 256,
            "n" : 4096
          },
          "untunedGflops" : 61.62472030127155,
          "untunedSeconds" : 0.06969552600000001
        },
        {
          "algorithm" : "kernel 8x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 17.01293809926649,
          "clblastSeconds" : 0.25245300200000004,
          "gflops" : 56.695663597500435,
          "runnerUp" : "kernel 12x2x16u1",
          "runnerUpSeconds" : 0.07777668700000001,
          "seconds" : 0.07575477600000001,
          "shape" : {
            "k" : 4096,
            "m" : 256,
            "n" : 2048
          },
          "untunedGflops" : 45.87844115897708,
          "untunedSeconds" : 0.093616243
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 33.52046320060409,
          "clblastSeconds" : 0.128129712,
          "gflops" : 165.86519617715464,
          "runnerUp" : "kernel 6x4x16u1",
          "runnerUpSeconds" : 0.031709743,
          "seconds" : 0.025894325000000003,
          "shape" : {
            "k" : 1024,
            "m" : 128,
            "n" : 16384
          },
          "untunedGflops" : 107.58492782549416,
          "untunedSeconds" : 0.039921645000000006
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 15.214279943543573,
          "clblastSeconds" : 0.282298427,
          "gflops" : 41.904296122617176,
          "runnerUp" : "kernel 12x2x16u1",
          "runnerUpSeconds" : 0.11116540100000001,
          "seconds" : 0.102494677,
          "shape" : {
            "k" : 16384,
            "m" : 128,
            "n" : 1024
          },
          "untunedGflops" : 25.844752835570073,
          "untunedSeconds" : 0.166183338
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 4.768657332346898,
          "clblastSeconds" : 0.084437433,
          "gflops" : 117.94642846158239,
          "runnerUp" : "kernel 6x2x16u4",
          "runnerUpSeconds" : 0.0054599720000000004,
          "seconds" : 0.0034138650000000003,
          "shape" : {
            "k" : 48,
            "m" : 64,
            "n" : 65536
          },
          "untunedGflops" : 46.88089749808298,
          "untunedSeconds" : 0.008588854
        },
        {
          "algorithm" : "kernel 8x3x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 1.5638829743952842,
          "clblastSeconds" : 0.25747015,
          "gflops" : 69.63914427459726,
          "runnerUp" : "kernel 6x3x16u4",
          "runnerUpSeconds" : 0.006939603000000001,
          "seconds" : 0.005781995000000001,
          "shape" : {
            "k" : 65536,
            "m" : 64,
            "n" : 48
          },
          "untunedGflops" : 35.4602864664749,
          "untunedSeconds" : 0.011355046
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 5.30538587341535,
          "clblastSeconds" : 0.07589517400000001,
          "gflops" : 66.39823686989989,
          "runnerUp" : "kernel 4x2x16u4",
          "runnerUpSeconds" : 0.00648444,
          "seconds" : 0.006064215,
          "shape" : {
            "k" : 64,
            "m" : 48,
            "n" : 65536
          },
          "untunedGflops" : 55.211798132508086,
          "untunedSeconds" : 0.007292883000000001
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 8.35790773331399,
          "clblastSeconds" : 0.012545915000000001,
          "gflops" : 142.44556623612326,
          "runnerUp" : "kernel 14x2x16u1",
          "runnerUpSeconds" : 0.0008342520000000001,
          "seconds" : 0.000736124,
          "shape" : {
            "k" : 100,
            "m" : 8192,
            "n" : 64
          },
          "untunedGflops" : 74.65294414570401,
          "untunedSeconds" : 0.0014046010000000001
        },
        {
          "algorithm" : "kernel 6x2x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 15.609526048155432,
          "clblastSeconds" : 0.006717539000000001,
          "gflops" : 123.29660767828796,
          "runnerUp" : "kernel 4x4x16u4",
          "runnerUpSeconds" : 0.0009941750000000001,
          "seconds" : 0.0008504500000000001,
          "shape" : {
            "k" : 64,
            "m" : 100,
            "n" : 8192
          },
          "untunedGflops" : 70.496153414328,
          "untunedSeconds" : 0.001487423
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.7283279954268346,
          "clblastSeconds" : 0.001439703,
          "gflops" : 10.724706459927175,
          "runnerUp" : "kernel 6x2x16u1",
          "runnerUpSeconds" : 0.00011991000000000001,
          "seconds" : 9.777200000000001e-05,
          "shape" : {
            "k" : 1,
            "m" : 8192,
            "n" : 64
          },
          "untunedGflops" : 6.497558557442062,
          "untunedSeconds" : 0.00016138
        },
        {
          "algorithm" : "kernel 4x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.2382152755690854,
          "clblastSeconds" : 0.0044018,
          "gflops" : 15.952048438379505,
          "runnerUp" : "kernel 4x2x16u4",
          "runnerUpSeconds" : 7.0691e-05,
          "seconds" : 6.5733e-05,
          "shape" : {
            "k" : 64,
            "m" : 1,
            "n" : 8192
          },
          "untunedGflops" : 6.477009364267536,
          "untunedSeconds" : 0.00016189200000000001
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.3407111362388347,
          "clblastSeconds" : 0.00307761,
          "gflops" : 16.206989288860726,
          "runnerUp" : "kernel 6x2x16u1",
          "runnerUpSeconds" : 8.6709e-05,
          "seconds" : 6.4699e-05,
          "shape" : {
            "k" : 8192,
            "m" : 1,
            "n" : 64
          },
          "untunedGflops" : 8.119558315652537,
          "untunedSeconds" : 0.000129142
        }
      ],
      "measured" : {
        "budgetSeconds" : 900,
        "command" : "kallima tune --budget 900 --repetitions 5",
        "complete" : true,
        "date" : "2026-11-29T05:35:39Z",
        "repetitions" : 5,
        "secondsSpent" : 169.8355748653412
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
