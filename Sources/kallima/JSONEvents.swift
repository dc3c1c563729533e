import ArgumentParser
import Foundation
import KallimaCore
import KallimaTrain

/// `kallima train … --json`: one JSON object per line on standard output for each event of
/// the run, for scripts and batch systems; the human-readable lines stay on standard error.
/// Every object has `"event"`: data, resumed, recipe, started, log, sample, checkpoint, note,
/// warning, evaluation, then one of finished, stopped or error (with `exit_status`).
/// A `log` line carries the fields of a metrics.jsonl line; non-finite numbers are written
/// as the strings "nan", "inf" and "-inf".
struct JSONEvents {
  let enabled: Bool

  /// A value of an event's own fields.
  enum Field: Encodable {
    case int(Int)
    case double(Double)
    case text(String)

    func encode(to encoder: Encoder) throws {
      var container = encoder.singleValueContainer()
      switch self {
      case .int(let v): try container.encode(v)
      case .double(let v): try container.encode(v)
      case .text(let v): try container.encode(v)
      }
    }
  }

  /// `payload`'s fields with `"event": event` added, on one line.
  func emit<Payload: Encodable>(_ event: String, payload: Payload) {
    guard enabled else { return }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    do {
      var line = try encoder.encode(Tagged(event: event, payload: payload))
      line.append(UInt8(ascii: "\n"))
      FileHandle.standardOutput.write(line)
    } catch {
      printError("kallima: could not write the \(event) event as JSON: \(error)")
    }
  }

  func emit(_ event: String, _ fields: [String: Field] = [:]) { emit(event, payload: fields) }

  /// Runs `body`, then writes `finished`; a stop by signal writes `stopped`, any error `error`
  /// with the exit status the command will end with. The error is rethrown.
  /// `counter` names the position: "step" for a GAN, "iteration" for a translator.
  func reportingEnd(_ counter: String, at position: () -> Int?, _ body: () throws -> Void) throws {
    do {
      try body()
      emit("finished", position().map { [counter: .int($0)] } ?? [:])
    } catch let code as ExitCode where code.rawValue > 128 {
      emit(
        "stopped", [counter: .int(position() ?? 0), "signal": .int(Int(code.rawValue) - 128), "exit_status": .int(Int(code.rawValue))])
      throw code
    } catch {
      let status = (error as? KallimaError)?.exitStatus ?? Kallima.exitCode(for: error).rawValue
      emit("error", ["message": .text("\((error as? KallimaError)?.description ?? "\(error)")"), "exit_status": .int(Int(status))])
      throw error
    }
  }

  /// A GAN run's event.
  func training(_ event: TrainingRun.Event) {
    switch event {
    case .loaded(let report, let count, let seconds):
      emit("data", ["images": .int(count), "seconds": .double(seconds), "report": .text("\(report)")])
    case .resumed(let step, let path): emit("resumed", ["step": .int(step), "from": .text(path)])
    case .recipe(let text): emit("recipe", ["text": .text(text)])
    case .started(let step): emit("started", ["step": .int(step)])
    case .log(let metrics): emit("log", payload: metrics)
    case .sample(let path): emit("sample", ["path": .text(path)])
    case .checkpoint(let path): emit("checkpoint", ["path": .text(path)])
    case .note(let text): emit("note", ["text": .text(text)])
    case .warning(let text): emit("warning", ["text": .text(text)])
    case .evaluation(let evaluation): emit("evaluation", payload: evaluation)
    }
  }

  /// An image-to-image run's event; a log line's statistics are fields of their own.
  func translation(_ event: TranslationRun.Event) {
    switch event {
    case .loaded(let notes, let seconds): emit("data", ["notes": .text(notes.joined(separator: "; ")), "seconds": .double(seconds)])
    case .resumed(let iteration, let path): emit("resumed", ["iteration": .int(iteration), "from": .text(path)])
    case .recipe(let text): emit("recipe", ["text": .text(text)])
    case .started(let iteration): emit("started", ["iteration": .int(iteration)])
    case .log(let iteration, let statistics, let rate):
      var fields = statistics.mapValues { Field.double(Double($0)) }
      (fields["iteration"], fields["images_per_s"]) = (.int(iteration), .double(rate))
      emit("log", fields)
    case .sample(let path): emit("sample", ["path": .text(path)])
    case .checkpoint(let path): emit("checkpoint", ["path": .text(path)])
    case .note(let text): emit("note", ["text": .text(text)])
    case .evaluation(let evaluation):
      var fields = evaluation.values.mapValues { Field.double($0) }
      fields["iteration"] = .int(evaluation.iteration)
      emit("evaluation", fields)
    }
  }
}

/// A payload's fields and `"event"` in one object: both encode into the same keyed container.
private struct Tagged<Payload: Encodable>: Encodable {
  let event: String
  let payload: Payload

  enum Key: String, CodingKey { case event }

  func encode(to encoder: Encoder) throws {
    try payload.encode(to: encoder)
    var container = encoder.container(keyedBy: Key.self)
    try container.encode(event, forKey: .event)
  }
}
