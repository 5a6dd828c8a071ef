/// An error reading, parsing or checking a specification.
///
/// The description names the file and, when the problem has a place in the
/// text, the 1-based line and column in the usual compiler style:
/// `prop_1.vnnlib:12:9: undeclared variable 'Y_12' (declared outputs: Y_0..Y_9)`.
public struct SpecError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, for callers that want to react programmatically.
    public enum Kind: String, Sendable {
        /// The file could not be read.
        case io
        /// Malformed S-expression structure: unbalanced parentheses, misplaced tokens, bad arity.
        case syntax
        /// A token that starts like a number but is not a valid finite number.
        case badNumber
        /// An operator or command that this parser does not know.
        case unknownOperator
        /// A variable whose name is not `X_<i>` or `Y_<j>`.
        case unknownVariable
        /// A variable used without a matching `declare-const`.
        case undeclaredVariable
        /// A constraint that the Property representation cannot express
        /// (inputs compared with outputs, several inputs in one constraint, nonlinear terms).
        case unsupportedConstraint
        /// An input lacks a finite lower or upper bound in some input box.
        case missingBound
        /// The file is empty, has no assertions, or declares no inputs/outputs.
        case empty
        /// Malformed JSON robustness spec (syntax, missing key, wrong type, bad value).
        case json
        /// A semantic problem with a spec's values (label out of range, empty clipped box, ...).
        case invalidSpec
        /// The spec does not fit the model (input/output counts differ).
        case mismatch
        /// The formula is too large to convert to disjunctive normal form, or nested too deeply.
        case tooLarge
    }

    /// The category of the problem.
    public var kind: Kind
    /// The file (or other source name) the problem is in.
    public var file: String
    /// 1-based line of the problem, when it has one.
    public var line: Int?
    /// 1-based column (in Unicode scalars) of the problem, when it has one.
    public var column: Int?
    /// What was expected or what is wrong, without the file/position prefix.
    public var message: String

    /// Creates an error. `line` and `column` are 1-based.
    public init(kind: Kind, file: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `file:line:column: message`, or `file: message` when there is no position.
    public var description: String {
        if let line = line, let column = column {
            return "\(file):\(line):\(column): \(message)"
        }
        return "\(file): \(message)"
    }
}

/// Text as it may appear in a message: never an invisible character.
public enum VisibleText {
    /// `s` with every character that does not show as itself written `\u{XXXX}` (hex code point):
    /// control characters (tab and newline too, unless `keepingLayout`), format characters such as
    /// the byte-order mark U+FEFF and zero-width spaces, separators other than the ASCII space,
    /// private-use, unassigned and replacement (U+FFFD, from invalid UTF-8) characters.
    public static func escaped(_ s: String, keepingLayout: Bool = false) -> String {
        var out = ""
        for u in s.unicodeScalars {
            if u.value >= 0x20 && u.value < 0x7F { out.unicodeScalars.append(u); continue }
            if keepingLayout && (u == "\n" || u == "\t") { out.unicodeScalars.append(u); continue }
            switch u.properties.generalCategory {
            case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
                out += "\\u{" + String(u.value, radix: 16, uppercase: true) + "}"
            default:
                if u.value == 0xFFFD { out += "\\u{FFFD}" } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }

    /// The UTF-8 byte-order mark that some editors write at the start of a text file.
    public static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// `bytes` without a leading UTF-8 byte-order mark.
    public static func droppingByteOrderMark(_ bytes: [UInt8]) -> [UInt8] {
        bytes.starts(with: byteOrderMark) ? Array(bytes.dropFirst(3)) : bytes
    }
}
