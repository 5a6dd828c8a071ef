/// The one error type for everything that can be wrong with a model or its use:
/// it names the file, the place (node, tensor, byte offset, line) and the problem.
package struct ModelError: Error, CustomStringConvertible, Equatable, Sendable {
    package enum Kind: String, Sendable {
        case io, decode, unsupportedOperator, unsupportedFeature, shape, invalidModel, input
    }
    package var kind: Kind
    package var file: String?
    package var location: String?
    package var message: String

    package init(_ kind: Kind, file: String? = nil, location: String? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.location = location
        self.message = message
    }

    /// The same error with the file filled in when it was unknown where it was thrown.
    package func inFile(_ path: String) -> ModelError {
        var e = self
        if e.file == nil { e.file = path }
        return e
    }

    package var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let location { parts.append(location) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}
