import ArgumentParser
import Certus
import Foundation

/// Exit codes (documented in the README): 0 success / property holds (unsat), 1 property
/// violated (sat), 2 unknown or timeout, 3 bad input, 64 usage error (from ArgumentParser),
/// 70 internal error (a bug in Certus; `EX_SOFTWARE` of sysexits.h). No unexpected error may end
/// with 0 or 1: every error that leaves a command's `run()` goes through `Failure.classify`.
enum Exit {
    static let wrongAnswer: Int32 = 1
    static let badInput: Int32 = 3
    static let internalError: Int32 = 70
}

/// How an error ends the program: its exit code and the line printed on stderr.
enum Failure {
    /// Bad input (exit 3) for errors about the user's files, settings or a model feature the
    /// chosen method does not support; an internal error (exit 70) for everything else.
    static func classify(_ error: Error) -> (code: Int32, message: String) {
        switch error {
        case let e as CertusError:
            return e.kind == .internal || e.kind == .cancelled ? (Exit.internalError, e.message) : (Exit.badInput, "error: \(e.message)")
        case is CLIError:
            return (Exit.badInput, "error: \(error)")
        default:
            let e = CertusError.from(error)
            if e.kind == .internal {
                return (Exit.internalError, "internal error: \(error) (this is a bug in Certus; please report it with the command and its files)")
            }
            return (Exit.badInput, "error: \(error)")
        }
    }

    /// Prints the message (invisible characters escaped) and returns the exit code to end with.
    static func report(_ error: Error) -> ExitCode {
        let (code, message) = classify(error)
        FileHandle.standardError.write(Data((VisibleText.escaped(message, keepingLayout: true) + "\n").utf8))
        return ExitCode(code)
    }
}

/// Runs `body`, turning any error into one clear message on stderr and its exit code (3 for bad
/// input, 70 for an internal error; see `Failure.classify`). `ExitCode`s pass through.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        throw Failure.report(error)
    }
}

/// JSON output of every command. Non-finite numbers, which JSON cannot hold, are written as the
/// strings "inf", "-inf" and "nan" (documented in the README); keys are sorted.
enum JSONOutput {
    static func encoder(pretty: Bool = true) -> JSONEncoder { Certus.jsonEncoder(pretty: pretty) }

    static func encode<T: Encodable>(_ value: T, pretty: Bool = true) throws -> Data {
        try reportingErrors { try encoder(pretty: pretty).encode(value) }
    }
}

/// Prints `value` as JSON on stdout (see `JSONOutput`). An encoding failure is an internal error
/// (exit 70), never a verdict code.
func printJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try JSONOutput.encode(value), as: UTF8.self))
}

/// A number in text output: Swift's shortest round-trip form, and "inf", "-inf", "nan" (as in
/// JSON output) for non-finite values.
func formatNumber(_ v: Double) -> String {
    v.isNaN ? "nan" : v.isInfinite ? (v > 0 ? "inf" : "-inf") : "\(v)"
}

extension CertusCommand {
    /// ArgumentParser's `main` with one change: an error thrown by a command's `run()` ends with
    /// its classified exit code (3 or 70) instead of ArgumentParser's default 1, which means sat.
    static func main() {
        ProcessClock.markStart()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)   // usage errors (64), --help and --version (0)
        }
        do {
            try command.run()
        } catch let e as ExitCode {
            exit(withError: e)
        } catch let e as ValidationError {
            exit(withError: e)       // 64
        } catch let e as CleanExit {
            exit(withError: e)
        } catch {
            // ArgumentParser's own errors (help and version requests surface from `run()` of a
            // command without one, as its internal CommandError) keep its exit codes; only an
            // error it would map to the generic failure code 1 is ours to classify.
            if exitCode(for: error) != .failure { exit(withError: error) }
            exit(withError: Failure.report(error))
        }
    }
}
