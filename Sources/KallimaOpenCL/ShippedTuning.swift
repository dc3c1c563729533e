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
    // PoCL 3.1 on a 2-core AVX-512 Xeon under KVM (the development machine), the machine
    // otherwise idle: the 17 GEMM shapes of a DCGAN-64 step at batch 64 (`kallima tune
    // --budget 420 --replace`), then the new ones of the Fashion-MNIST recipe (`kallima tune
    // --size 32 --width 32 --channels 1 --budget 240`), 2026-11-29. One pass over the
    // DCGAN-64 shapes: 172.8 ms with the winners, 335.9 ms with the untuned tile (1.94x),
    // 1120.3 ms with CLBlast (6.48x).
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
      "fallback" : "kernel 4x4x16u4",
      "format" : "kallima-tuning-1",
      "gemm" : [
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 65.17114758008734,
          "clblastSeconds" : 0.065902895,
          "gflops" : 280.83037866358114,
          "runnerUp" : "kernel 6x4x16u1",
          "runnerUpSeconds" : 0.01578123,
          "seconds" : 0.015293813000000002,
          "shape" : {
            "k" : 512,
            "m" : 4096,
            "n" : 1024
          },
          "untunedGflops" : 152.21492102466266,
          "untunedSeconds" : 0.028216467000000002
        },
        {
          "algorithm" : "kernel 6x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 68.38472856596913,
          "clblastSeconds" : 0.062805942,
          "gflops" : 274.6985310008447,
          "runnerUp" : "kernel 4x4x16u4",
          "runnerUpSeconds" : 0.019028225000000003,
          "seconds" : 0.015635203,
          "shape" : {
            "k" : 256,
            "m" : 2048,
            "n" : 4096
          },
          "untunedGflops" : 136.08066809368162,
          "untunedSeconds" : 0.031561921
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 52.31735674963174,
          "clblastSeconds" : 0.082094501,
          "gflops" : 229.5947659478701,
          "runnerUp" : "kernel 4x4x16u4",
          "runnerUpSeconds" : 0.018795713000000002,
          "seconds" : 0.01870673,
          "shape" : {
            "k" : 128,
            "m" : 1024,
            "n" : 16384
          },
          "untunedGflops" : 127.68102225504595,
          "untunedSeconds" : 0.033638259000000004
        },
        {
          "algorithm" : "kernel 6x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 58.96712798532968,
          "clblastSeconds" : 0.07283663700000001,
          "gflops" : 255.79671611690597,
          "runnerUp" : "kernel 4x4x16u4",
          "runnerUpSeconds" : 0.02095262,
          "seconds" : 0.016790549000000002,
          "shape" : {
            "k" : 1024,
            "m" : 512,
            "n" : 4096
          },
          "untunedGflops" : 127.407887874984,
          "untunedSeconds" : 0.033710372
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 46.51562193842026,
          "clblastSeconds" : 0.092333868,
          "gflops" : 275.3659523403623,
          "runnerUp" : "kernel 4x4x16u4",
          "runnerUpSeconds" : 0.016295975,
          "seconds" : 0.015597307000000001,
          "shape" : {
            "k" : 4096,
            "m" : 512,
            "n" : 1024
          },
          "untunedGflops" : 141.60788507722106,
          "untunedSeconds" : 0.030330001000000002
        },
        {
          "algorithm" : "kernel 6x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 30.454831991927815,
          "clblastSeconds" : 0.14102745,
          "gflops" : 243.07553713311302,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 0.020496105,
          "seconds" : 0.01766927,
          "shape" : {
            "k" : 2048,
            "m" : 256,
            "n" : 4096
          },
          "untunedGflops" : 119.40988038514163,
          "untunedSeconds" : 0.035968274
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 27.684582272988035,
          "clblastSeconds" : 0.155139321,
          "gflops" : 153.2994849776247,
          "runnerUp" : "kernel 14x2x16u1",
          "runnerUpSeconds" : 0.034876948000000005,
          "seconds" : 0.028016841,
          "shape" : {
            "k" : 4096,
            "m" : 256,
            "n" : 2048
          },
          "untunedGflops" : 97.6271710646773,
          "untunedSeconds" : 0.043993565000000005
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 33.39880452987352,
          "clblastSeconds" : 0.128596438,
          "gflops" : 232.13857335248323,
          "runnerUp" : "kernel 6x2x16u1",
          "runnerUpSeconds" : 0.026797294000000003,
          "seconds" : 0.018501739,
          "shape" : {
            "k" : 1024,
            "m" : 128,
            "n" : 16384
          },
          "untunedGflops" : 102.247755983908,
          "untunedSeconds" : 0.042005492000000005
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 31.118410161867754,
          "clblastSeconds" : 0.13802013900000001,
          "gflops" : 246.28872724757952,
          "runnerUp" : "kernel 4x4x16u1",
          "runnerUpSeconds" : 0.025645142000000003,
          "seconds" : 0.017438749,
          "shape" : {
            "k" : 16384,
            "m" : 128,
            "n" : 1024
          },
          "untunedGflops" : 103.88092654268583,
          "untunedSeconds" : 0.0413451
        },
        {
          "algorithm" : "kernel 4x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 9.951583365582321,
          "clblastSeconds" : 0.040461218,
          "gflops" : 150.4035572130383,
          "runnerUp" : "kernel 4x2x16u4",
          "runnerUpSeconds" : 0.003375854,
          "seconds" : 0.0026771520000000004,
          "shape" : {
            "k" : 48,
            "m" : 64,
            "n" : 65536
          },
          "untunedGflops" : 102.7875550055216,
          "untunedSeconds" : 0.003917334000000001
        },
        {
          "algorithm" : "kernel 6x3x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 4.452260900801636,
          "clblastSeconds" : 0.09043791300000001,
          "gflops" : 156.55426419883264,
          "runnerUp" : "kernel 4x3x16u1",
          "runnerUpSeconds" : 0.00277171,
          "seconds" : 0.002571972,
          "shape" : {
            "k" : 65536,
            "m" : 64,
            "n" : 48
          },
          "untunedGflops" : 76.55558016654818,
          "untunedSeconds" : 0.005259619
        },
        {
          "algorithm" : "kernel 4x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 11.550992531230033,
          "clblastSeconds" : 0.034858752,
          "gflops" : 167.8939530717908,
          "runnerUp" : "kernel 14x2x16u4",
          "runnerUpSeconds" : 0.0027325870000000003,
          "seconds" : 0.0023982590000000002,
          "shape" : {
            "k" : 64,
            "m" : 48,
            "n" : 65536
          },
          "untunedGflops" : 124.09428193849978,
          "untunedSeconds" : 0.0032447360000000002
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 69.09853916049155,
          "clblastSeconds" : 0.003884821,
          "gflops" : 242.06337723985004,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 0.001143094,
          "seconds" : 0.001108947,
          "shape" : {
            "k" : 128,
            "m" : 1024,
            "n" : 1024
          },
          "untunedGflops" : 132.0492807363874,
          "untunedSeconds" : 0.0020328430000000003
        },
        {
          "algorithm" : "kernel 6x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 40.40884252688699,
          "clblastSeconds" : 0.006642988000000001,
          "gflops" : 221.06371295160136,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 0.0012188580000000002,
          "seconds" : 0.00121429,
          "shape" : {
            "k" : 64,
            "m" : 512,
            "n" : 4096
          },
          "untunedGflops" : 128.3379872816833,
          "untunedSeconds" : 0.0020916290000000002
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 71.79568640876411,
          "clblastSeconds" : 0.0037388800000000004,
          "gflops" : 220.78370824868608,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 0.0012741520000000002,
          "seconds" : 0.00121583,
          "shape" : {
            "k" : 1024,
            "m" : 128,
            "n" : 1024
          },
          "untunedGflops" : 128.0852007174496,
          "untunedSeconds" : 0.002095757
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 22.91313424358617,
          "clblastSeconds" : 0.011715353000000001,
          "gflops" : 198.11568161907917,
          "runnerUp" : "kernel 6x4x16u1",
          "runnerUpSeconds" : 0.001485984,
          "seconds" : 0.0013549430000000002,
          "shape" : {
            "k" : 512,
            "m" : 64,
            "n" : 4096
          },
          "untunedGflops" : 125.44938080401309,
          "untunedSeconds" : 0.0021397910000000003
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 27.212453953262802,
          "clblastSeconds" : 0.009864434,
          "gflops" : 207.29246926545989,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 0.0013371650000000002,
          "seconds" : 0.0012949600000000002,
          "shape" : {
            "k" : 4096,
            "m" : 64,
            "n" : 512
          },
          "untunedGflops" : 116.42804643147896,
          "untunedSeconds" : 0.002305591
        },
        {
          "algorithm" : "kernel 6x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 14.92371028495745,
          "clblastSeconds" : 0.007026242,
          "gflops" : 184.11154401939834,
          "runnerUp" : "kernel 4x4x16u1",
          "runnerUpSeconds" : 0.0006380110000000001,
          "seconds" : 0.000569533,
          "shape" : {
            "k" : 100,
            "m" : 8192,
            "n" : 64
          },
          "untunedGflops" : 94.3243948294008,
          "untunedSeconds" : 0.0011116700000000001
        },
        {
          "algorithm" : "kernel 14x2x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 46.01651383796426,
          "clblastSeconds" : 0.0022786950000000003,
          "gflops" : 165.55922911989188,
          "runnerUp" : "kernel 4x4x16u1",
          "runnerUpSeconds" : 0.0006726410000000001,
          "seconds" : 0.000633354,
          "shape" : {
            "k" : 64,
            "m" : 100,
            "n" : 8192
          },
          "untunedGflops" : 94.60591395230077,
          "untunedSeconds" : 0.001108362
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 21.146375146813973,
          "clblastSeconds" : 0.0012396640000000001,
          "gflops" : 164.38452373487172,
          "runnerUp" : "kernel 6x2x16u1",
          "runnerUpSeconds" : 0.000169941,
          "seconds" : 0.00015947000000000002,
          "shape" : {
            "k" : 100,
            "m" : 2048,
            "n" : 64
          },
          "untunedGflops" : 116.62714496087128,
          "untunedSeconds" : 0.00022477100000000002
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 26.078141709567507,
          "clblastSeconds" : 0.001005225,
          "gflops" : 163.20858677989526,
          "runnerUp" : "kernel 6x2x16u1",
          "runnerUpSeconds" : 0.00017372,
          "seconds" : 0.000160619,
          "shape" : {
            "k" : 64,
            "m" : 100,
            "n" : 2048
          },
          "untunedGflops" : 114.74996498108979,
          "untunedSeconds" : 0.00022844800000000002
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 5.838945056780807,
          "clblastSeconds" : 0.0028733300000000003,
          "gflops" : 88.33554121078735,
          "runnerUp" : "kernel 4x4x16u1",
          "runnerUpSeconds" : 0.000193009,
          "seconds" : 0.000189926,
          "shape" : {
            "k" : 16,
            "m" : 32,
            "n" : 16384
          },
          "untunedGflops" : 70.94350217982384,
          "untunedSeconds" : 0.00023648700000000001
        },
        {
          "algorithm" : "kernel 6x1x16u1",
          "candidatesTimed" : 13,
          "clblastGflops" : 7.636093858524031,
          "clblastSeconds" : 0.002197094,
          "gflops" : 93.28864225264398,
          "runnerUp" : "kernel 4x1x16u4",
          "runnerUpSeconds" : 0.00024903,
          "seconds" : 0.00017984200000000002,
          "shape" : {
            "k" : 16384,
            "m" : 32,
            "n" : 16
          },
          "untunedGflops" : 33.54128381674383,
          "untunedSeconds" : 0.0005001960000000001
        },
        {
          "algorithm" : "kernel 4x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 5.58028124228759,
          "clblastSeconds" : 0.003006518,
          "gflops" : 99.56982023418814,
          "runnerUp" : "kernel 6x2x16u1",
          "runnerUpSeconds" : 0.000196657,
          "seconds" : 0.000168497,
          "shape" : {
            "k" : 32,
            "m" : 16,
            "n" : 16384
          },
          "untunedGflops" : 38.22647132538905,
          "untunedSeconds" : 0.00043889000000000005
        },
        {
          "algorithm" : "kernel 4x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 1.2861844243745253,
          "clblastSeconds" : 0.0008152610000000001,
          "gflops" : 11.102033901894144,
          "runnerUp" : "kernel 8x2x16u1",
          "runnerUpSeconds" : 0.00010577500000000001,
          "seconds" : 9.4449e-05,
          "shape" : {
            "k" : 1,
            "m" : 8192,
            "n" : 64
          },
          "untunedGflops" : 8.04832482634225,
          "untunedSeconds" : 0.000130285
        },
        {
          "algorithm" : "kernel 4x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.36295767081484925,
          "clblastSeconds" : 0.002888976,
          "gflops" : 11.379135964579106,
          "runnerUp" : "kernel 4x2x16u4",
          "runnerUpSeconds" : 0.000102613,
          "seconds" : 9.2149e-05,
          "shape" : {
            "k" : 64,
            "m" : 1,
            "n" : 8192
          },
          "untunedGflops" : 5.947275284722537,
          "untunedSeconds" : 0.000176312
        },
        {
          "algorithm" : "kernel 4x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.37760899540960124,
          "clblastSeconds" : 0.0027768830000000004,
          "gflops" : 14.57144842345159,
          "runnerUp" : "kernel 8x2x16u1",
          "runnerUpSeconds" : 9.2627e-05,
          "seconds" : 7.196100000000001e-05,
          "shape" : {
            "k" : 8192,
            "m" : 1,
            "n" : 64
          },
          "untunedGflops" : 6.510427726141026,
          "untunedSeconds" : 0.00016106100000000002
        },
        {
          "algorithm" : "kernel 4x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.5941223265016579,
          "clblastSeconds" : 0.000441229,
          "gflops" : 8.90797879570477,
          "runnerUp" : "kernel 6x4x16u1",
          "runnerUpSeconds" : 4.4335e-05,
          "seconds" : 2.9428000000000004e-05,
          "shape" : {
            "k" : 1,
            "m" : 2048,
            "n" : 64
          },
          "untunedGflops" : 2.245383218556207,
          "untunedSeconds" : 0.000116748
        },
        {
          "algorithm" : "kernel 6x4x16u4",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.3362933124655232,
          "clblastSeconds" : 0.0007795100000000001,
          "gflops" : 10.363061353573686,
          "runnerUp" : "kernel 4x4x16u4",
          "runnerUpSeconds" : 4.0368000000000004e-05,
          "seconds" : 2.5296000000000003e-05,
          "shape" : {
            "k" : 64,
            "m" : 1,
            "n" : 2048
          },
          "untunedGflops" : 1.9024202619833808,
          "untunedSeconds" : 0.00013779500000000002
        },
        {
          "algorithm" : "kernel 4x4x16u1",
          "candidatesTimed" : 19,
          "clblastGflops" : 0.3703257924432879,
          "clblastSeconds" : 0.000707874,
          "gflops" : 10.526603220495522,
          "runnerUp" : "kernel 6x4x16u4",
          "runnerUpSeconds" : 2.6915000000000002e-05,
          "seconds" : 2.4903000000000002e-05,
          "shape" : {
            "k" : 2048,
            "m" : 1,
            "n" : 64
          },
          "untunedGflops" : 3.118052168948414,
          "untunedSeconds" : 8.4073e-05
        }
      ],
      "measured" : {
        "budgetSeconds" : 240,
        "command" : "kallima tune --batch 64 --size 32 --width 32 --channels 1 --budget 240 --repetitions 3",
        "complete" : true,
        "date" : "2026-11-29T06:14:05Z",
        "repetitions" : 3,
        "secondsSpent" : 2.6833553314208984
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
