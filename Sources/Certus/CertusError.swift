import Foundation
import CertusGraph
import CertusSpec
import CertusVerify
import CertusLipschitz
import CertusCheck

/// The one error type of the `Certus` front door. Its `description` is the whole message, in the
/// compiler style the command line prints: the file (with `line:column` where the problem has a
/// place in the text), the node, tensor or field, and the problem, e.g.
/// `prop.vnnlib:12:9: undeclared variable 'Y_12' (declared outputs: Y_0..Y_9)` or
/// `model.onnx: node 'conv1' (Conv): attribute 'group' = 2 is not supported`.
public struct CertusError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem it is (the command line exits with 3 for every kind but `internal`,
    /// which exits with 70, and `cancelled`).
    public enum Kind: String, Sendable, Equatable {
        /// A model file that cannot be read or is malformed (`ModelError`).
        case model
        /// A spec or region that cannot be read, is malformed, or does not fit the model.
        case spec
        /// A model feature or operator that the chosen analysis does not support (the node named).
        case unsupported
        /// Options or settings out of range.
        case settings
        /// A `certus check` manifest that cannot be used (file, line, column and field named).
        case manifest
        /// The analysis was cancelled (`CancellationToken.cancel()` or the enclosing `Task`).
        case cancelled
        /// A bug in Certus (please report it with the inputs).
        case `internal`
    }

    /// The kind of problem.
    public var kind: Kind
    /// The file the problem is in, when there is one (a model, spec, region or manifest path).
    public var file: String?
    /// The 1-based line in `file`, when the problem has a place in its text.
    public var line: Int?
    /// The 1-based column in `file`, when known.
    public var column: Int?
    /// The whole message (what `description` returns).
    public var message: String

    /// An error with its whole message.
    public init(_ kind: Kind, _ message: String, file: String? = nil, line: Int? = nil, column: Int? = nil) {
        self.kind = kind; self.message = message; self.file = file; self.line = line; self.column = column
    }

    /// The message.
    public var description: String { message }

    /// The error for `error` thrown by the library, with `model` (a path or name) put in front
    /// of messages that do not name a file (bound propagation and Jacobian errors name a node).
    public static func from(_ error: Error, model: String? = nil) -> CertusError {
        func prefixed(_ m: String) -> String { model.map { "\($0): \(m)" } ?? m }
        switch error {
        case let e as CertusError: return e
        case let e as ModelError:
            let unsupported = e.kind == .unsupportedOperator || e.kind == .unsupportedFeature
            return CertusError(unsupported ? .unsupported : .model, e.inFile(model ?? "model").description, file: e.file ?? model)
        case let e as SpecError:
            return CertusError(.spec, e.description, file: e.file, line: e.line, column: e.column)
        case let e as BoundError:
            return CertusError(.unsupported, prefixed(e.message), file: model)
        case let e as JacobianError:
            return CertusError(.unsupported, prefixed(e.message), file: model)
        case let e as LPEncodingError:
            return CertusError(.unsupported, prefixed(e.description), file: model)
        case let e as SettingsError:
            return CertusError(.settings, e.description)
        case let e as ManifestError:
            return CertusError(.manifest, e.description, file: e.file, line: e.position?.line, column: e.position?.column)
        case let e as CheckOptionsError:
            return CertusError(.settings, e.message)
        case let e as InstanceListError:
            return CertusError(.spec, e.description, file: e.file, line: e.line)
        case let e as EntryError:
            return CertusError(.spec, e.message)
        case is CancellationError:
            return CertusError(.cancelled, "cancelled")
        default:
            return CertusError(.internal, "internal error: \(error) (this is a bug in Certus; please report it with the inputs)")
        }
    }

    /// Runs `body`, turning every error into a `CertusError` (see `from(_:model:)`).
    static func wrapping<T>(model: String? = nil, _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw from(error, model: model) }
    }

    static let cancelled = CertusError(.cancelled, "cancelled")
}
