import Foundation

/// Runs `body(0)`, ..., `body(count - 1)` on the cores (`DispatchQueue.concurrentPerform`; a
/// single call runs inline) and returns each call's value or error, in order. `body` must be
/// safe to call concurrently. Certus parallelises above BLAS this way (row groups, domains).
package func concurrentResults<T>(_ count: Int, _ body: (Int) throws -> T) -> [Result<T, Error>] {
    guard count > 1 else { return (0..<count).map { t in Result { try body(t) } } }
    var out = [Result<T, Error>?](repeating: nil, count: count)
    withoutActuallyEscaping(body) { body in
        out.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            DispatchQueue.concurrentPerform(iterations: count) { t in base[t] = Result { try body(t) } }
        }
    }
    return out.map { $0! }
}
