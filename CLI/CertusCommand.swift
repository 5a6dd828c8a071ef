import ArgumentParser
import Certus
import Foundation

/// Exit codes (documented in the README):
/// 0 property holds (unsat) or command succeeded, 1 sat, 2 unknown or timeout, 3 bad input,
/// 64 usage error (from ArgumentParser).
enum Exit {
    static let badInput: Int32 = 3
}

@main
struct CertusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certus",
        abstract: "Certus: a neural-network verifier.",
        discussion: "Exit codes: 0 success / property holds (unsat), 1 property violated (sat), 2 unknown or timeout, 3 bad input (file, model, spec), 64 bad usage.",
        subcommands: [Inspect.self, Eval.self, Convert.self, Bounds.self, Benchmark.self]
    )
}

/// Runs `body`, turning any library error into one clear message on stderr and exit code 3.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(Exit.badInput)
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}

func formatShape(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a model's inputs, outputs, operators and size.")
    @Argument(help: "Model file (.onnx or ONNX-JSON .json).") var model: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let summary = try reportingErrors { ModelSummary(graph: try ModelFile.load(model), file: model) }
        if json { try printJSON(summary); return }
        print("model:      \(summary.file)")
        print("ir version: \(summary.irVersion), opset \(summary.opset)\(summary.producer.isEmpty ? "" : ", producer \(summary.producer)")")
        for i in summary.inputs { print("input:      '\(i.name)' \(formatShape(i.shape))") }
        for o in summary.outputs { print("output:     '\(o.name)' \(formatShape(o.shape))") }
        print("parameters: \(summary.parameters)")
        print("operators:  " + summary.opCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a model on one input and print its outputs.")
    @Argument(help: "Model file (.onnx or ONNX-JSON .json).") var model: String
    @Option(parsing: .unconditional, help: "Input values, flattened row-major, separated by commas (may start with a minus sign).") var input: String?
    @Option(help: "File holding the input as a JSON array (nested arrays are flattened row-major).") var inputFile: String?
    @Flag(help: "Print JSON.") var json = false

    struct Output: Codable { var name: String; var shape: [Int]; var values: [Double] }

    func validate() throws {
        guard (input == nil) != (inputFile == nil) else {
            throw ValidationError("give exactly one of --input or --input-file")
        }
    }

    func run() throws {
        let outputs: [Output] = try reportingErrors {
            let graph = try ModelFile.load(model)
            let x = try inputFile.map { try InputValues.load(file: $0) } ?? InputValues.parse(list: input ?? "")
            let ys = try graph.evaluate(x)
            return zip(graph.outputs, ys).map { Output(name: graph.values[$0.0].name, shape: $0.1.shape, values: $0.1.data) }
        }
        if json { try printJSON(["outputs": outputs]); return }
        for o in outputs {
            print("\(o.name) \(formatShape(o.shape)): " + o.values.map { "\($0)" }.joined(separator: " "))
        }
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model between binary ONNX (.onnx) and ONNX-JSON (.json), chosen by extension.")
    @Argument(help: "Input model.") var input: String
    @Argument(help: "Output path; .json writes ONNX-JSON, anything else binary ONNX.") var output: String

    func run() throws {
        try reportingErrors { try ModelFile.convert(from: input, to: output) }
        print("wrote \(output) (\(ModelFile.encoding(of: output).rawValue))")
    }
}
