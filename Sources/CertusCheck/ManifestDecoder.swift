import Foundation

/// A problem with one field, found by `TreeDecoder` itself (a missing or unknown key, a value of
/// the wrong kind). `atKey`: the position to report is the key's (unknown keys), not the value's.
struct FieldError: Error {
    var codingPath: [CodingKey]
    var message: String
    var atKey = false
}

/// A coding key made from text or an index.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ s: String) { stringValue = s; intValue = nil }
    init(index: Int) { stringValue = "[\(index)]"; intValue = index }
    init?(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { self.init(index: intValue) }
}

/// `Decoder` over a `TreeNode`: the `Codable` manifest types decode from YAML and JSON alike.
///
/// Strict on purpose (a CI gate must not let a typo pass): a key that the type's `CodingKeys`
/// do not list is an error (with the nearest known key as a suggestion), numbers must be written
/// as numbers (a quoted "0.5" is text), and null is only accepted where a field is optional.
struct TreeDecoder: Decoder {
    let node: TreeNode
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(node: TreeNode, codingPath: [CodingKey] = []) {
        self.node = node
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let pairs, _) = node else {
            throw FieldError(codingPath: codingPath, message: "expected a mapping (key: value), got \(node.kindDescription)")
        }
        let known = TreeDecoder.knownKeys(Key.self)
        for p in pairs where Key(stringValue: p.key) == nil {
            var m = "unknown key '\(p.key)'"
            if let known {
                if let near = TreeDecoder.nearest(p.key, in: known) { m += " (did you mean '\(near)'?)" }
                m += "; expected one of: " + known.joined(separator: ", ")
            }
            throw FieldError(codingPath: codingPath + [AnyKey(p.key)], message: m, atKey: true)
        }
        return KeyedDecodingContainer(KeyedTree<Key>(decoder: self, pairs: pairs))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .sequence(let items, _) = node else {
            throw FieldError(codingPath: codingPath, message: "expected a list, got \(node.kindDescription)")
        }
        return UnkeyedTree(decoder: self, items: items)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { SingleTree(decoder: self) }

    // MARK: Scalars

    func fail(_ message: String) -> FieldError { FieldError(codingPath: codingPath, message: message) }

    func decodeString() throws -> String {
        guard case .scalar(let s, let kind, _) = node, kind != .null else {
            throw fail("expected text, got \(node.kindDescription)")
        }
        return s
    }

    func decodeDouble() throws -> Double {
        guard case .scalar(let s, .number, _) = node, let v = TreeDecoder.number(s) else {
            if case .scalar(let s, .quoted, _) = node, TreeDecoder.number(s) != nil {
                throw fail("expected a number, got the quoted text \"\(s)\" (write it without quotes)")
            }
            throw fail("expected a number, got \(node.kindDescription)")
        }
        return v
    }

    func decodeInt() throws -> Int {
        let v = try decodeDouble()
        guard v.rounded() == v, abs(v) < 1e15 else { throw fail("expected a whole number, got \(v)") }
        return Int(v)
    }

    func decodeInteger<T: FixedWidthInteger>() throws -> T {
        let v = try decodeInt()
        guard let r = T(exactly: v) else { throw fail("\(v) is out of range for this field") }
        return r
    }

    func decodeBool() throws -> Bool {
        guard case .scalar(let s, .bool, _) = node else { throw fail("expected true or false, got \(node.kindDescription)") }
        return ["true", "yes", "on", "y"].contains(s.lowercased())
    }

    /// A number as YAML or JSON writes it: digits with `_` separators, `.inf`, `-.inf`, `.nan`.
    static func number(_ text: String) -> Double? {
        let t = text.replacingOccurrences(of: "_", with: "")
        switch t.lowercased() {
        case ".inf", "+.inf": return .infinity
        case "-.inf": return -.infinity
        case ".nan": return .nan
        default: break
        }
        if t.hasPrefix("0x") || t.hasPrefix("-0x") || t.hasPrefix("+0x") { return Int(t.replacingOccurrences(of: "0x", with: ""), radix: 16).map(Double.init) }
        return Double(t)
    }

    // MARK: Keys

    /// The key names of a `CaseIterable` key type (all manifest types use one), else nil.
    static func knownKeys<K: CodingKey>(_ type: K.Type) -> [String]? {
        guard let iterable = type as? any (CodingKey & CaseIterable).Type else { return nil }
        return names(iterable)
    }

    private static func names<K: CodingKey & CaseIterable>(_ type: K.Type) -> [String] {
        K.allCases.map(\.stringValue)
    }

    /// The known key closest to `key` by edit distance, when it is close (a likely typo).
    static func nearest(_ key: String, in known: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var prev = Array(0...b.count)
            for i in 1...max(1, a.count) where !a.isEmpty {
                var cur = [i] + [Int](repeating: 0, count: b.count)
                for j in 1...max(1, b.count) where !b.isEmpty {
                    cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                prev = cur
            }
            return a.isEmpty ? b.count : prev[b.count]
        }
        let k = Array(key.lowercased())
        let scored = known.map { ($0, distance(k, Array($0.lowercased()))) }.sorted { $0.1 < $1.1 }
        let limit = key.count <= 3 ? 1 : key.count < 9 ? 2 : 3
        guard let best = scored.first, best.1 <= limit else { return nil }
        return best.0
    }
}

private struct KeyedTree<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: TreeDecoder
    let pairs: [(key: String, keyPosition: SourcePosition, value: TreeNode)]

    var codingPath: [CodingKey] { decoder.codingPath }
    var allKeys: [Key] { pairs.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { pairs.contains { $0.key == key.stringValue } }

    private func child(_ key: Key) throws -> TreeDecoder {
        guard let v = pairs.first(where: { $0.key == key.stringValue })?.value else {
            throw FieldError(codingPath: codingPath, message: "missing key '\(key.stringValue)'")
        }
        return TreeDecoder(node: v, codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool { try child(key).node.isNull }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try child(key).decodeBool() }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try child(key).decodeString() }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try child(key).decodeDouble() }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try child(key).decodeDouble()) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try child(key).decodeInt() }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try child(key).decodeInteger() }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try child(key).decodeInteger() }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try child(key).decodeInteger() }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try child(key).decodeInteger() }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try child(key).decodeInteger() }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try child(key).decodeInteger() }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try child(key).decodeInteger() }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try child(key).decodeInteger() }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try child(key).decodeInteger() }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try T(from: child(key)) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try child(key).unkeyedContainer() }
    func superDecoder() throws -> Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> Decoder { try child(key) }
}

private struct UnkeyedTree: UnkeyedDecodingContainer {
    let decoder: TreeDecoder
    let items: [TreeNode]
    var currentIndex = 0

    init(decoder: TreeDecoder, items: [TreeNode]) { self.decoder = decoder; self.items = items }

    var codingPath: [CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> TreeDecoder {
        guard !isAtEnd else { throw FieldError(codingPath: codingPath, message: "the list ends too early") }
        defer { currentIndex += 1 }
        return TreeDecoder(node: items[currentIndex], codingPath: codingPath + [AnyKey(index: currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if items[currentIndex].isNull { currentIndex += 1; return true }
        return false
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().decodeBool() }
    mutating func decode(_ type: String.Type) throws -> String { try next().decodeString() }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().decodeDouble() }
    mutating func decode(_ type: Float.Type) throws -> Float { Float(try next().decodeDouble()) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().decodeInt() }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().decodeInteger() }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().decodeInteger() }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().decodeInteger() }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().decodeInteger() }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().decodeInteger() }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().decodeInteger() }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().decodeInteger() }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().decodeInteger() }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().decodeInteger() }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: next()) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> Decoder { try next() }
}

private struct SingleTree: SingleValueDecodingContainer {
    let decoder: TreeDecoder
    var codingPath: [CodingKey] { decoder.codingPath }
    func decodeNil() -> Bool { decoder.node.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.decodeBool() }
    func decode(_ type: String.Type) throws -> String { try decoder.decodeString() }
    func decode(_ type: Double.Type) throws -> Double { try decoder.decodeDouble() }
    func decode(_ type: Float.Type) throws -> Float { Float(try decoder.decodeDouble()) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.decodeInt() }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.decodeInteger() }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.decodeInteger() }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.decodeInteger() }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.decodeInteger() }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.decodeInteger() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.decodeInteger() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.decodeInteger() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.decodeInteger() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.decodeInteger() }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: decoder) }
}
