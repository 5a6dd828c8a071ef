import CertusTensor

/// ONNX `Slice` (named `SliceOperator` so as not to shadow `Swift.Slice` for importers):
/// `data[starts:ends:steps]` along `axes`, with constant starts, ends, axes and
/// steps (attributes `starts`, `ends`, `axes` before opset 10; inputs 1 to 4 from opset 10,
/// `steps` too).
///
/// Semantics (ONNX specification): for each sliced axis of size d, a negative start or end has d
/// added; then with a positive step start and end are clamped to [0, d], with a negative step
/// start to [0, d-1] and end to [-1, d-1] (so INT64_MIN / INT64_MAX mean "to the end"). The
/// output has ceil((end - start) / step) elements along that axis (0 if negative). Omitted axes
/// default to 0..<count(starts); omitted steps to 1. Each output element is an element of `data`:
/// an `IndexMapping` (affine, exact IBP).
///
/// Errors (at load, naming the node): computed starts/ends/axes/steps, a zero step, lists of
/// different lengths, an axis outside `[-r, r)` or repeated.
package struct SliceOperator: Operator, IndexMapping {
    package static let opType = "Slice"
    /// Per input axis, the coordinates read, in output order (all of `0..<d` for unsliced axes).
    package let picks: [Int: [Int]]
    package let inputShape: [Int]

    package init(inputShape: [Int], starts: [Int], ends: [Int], axes: [Int], steps: [Int]) {
        self.inputShape = inputShape
        var picks: [Int: [Int]] = [:]
        for k in axes.indices {
            let d = inputShape[axes[k]], s = steps[k]
            var b = starts[k] < 0 ? starts[k] + d : starts[k]
            var e = ends[k] < 0 ? ends[k] + d : ends[k]
            if s > 0 {
                b = Swift.min(Swift.max(b, 0), d); e = Swift.min(Swift.max(e, 0), d)
                picks[axes[k]] = b < e ? Array(stride(from: b, to: e, by: s)) : []
            } else {
                b = Swift.min(Swift.max(b, 0), d - 1); e = Swift.min(Swift.max(e, -1), d - 1)
                picks[axes[k]] = b > e ? Array(stride(from: b, to: e, by: s)) : []
            }
        }
        self.picks = picks
    }

    package static func make(_ node: NodeContext) throws -> SliceOperator {
        guard let shape = node.inputShapes.first else { throw node.error("Slice needs a data input") }
        let starts: [Int], ends: [Int], axesRaw: [Int]?, steps: [Int]?
        if node.opset < 10 {
            guard let s = try node.ints("starts"), let e = try node.ints("ends") else {
                throw node.error("Slice before opset 10 needs attributes 'starts' and 'ends'")
            }
            starts = s; ends = e; axesRaw = try node.ints("axes"); steps = nil
        } else {
            guard node.inputShapes.count >= 3 else { throw node.error("Slice takes inputs (data, starts, ends[, axes[, steps]]), got \(node.inputShapes.count)") }
            starts = try node.constantIndexInts(1, what: "starts")
            ends = try node.constantIndexInts(2, what: "ends")
            axesRaw = node.inputShapes.count > 3 ? try node.constantInts(3, what: "axes") : nil
            steps = node.inputShapes.count > 4 ? try node.constantIndexInts(4, what: "steps") : nil
        }
        let axes = try node.distinctAxes(axesRaw ?? Array(0..<starts.count), rank: shape.count)
        let st = steps ?? [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, st.count == starts.count else {
            throw node.error("Slice starts \(starts), ends \(ends), axes \(axes) and steps \(st) differ in length", kind: .shape)
        }
        guard !st.contains(0) else { throw node.error("Slice step 0 is invalid (steps \(st))") }
        return SliceOperator(inputShape: shape, starts: starts, ends: ends, axes: axes, steps: st)
    }

    /// Omitted axes (with steps given) are the first len(starts) axes, as when axes is absent.
    package static func omittedInput(at position: Int, inputShapes: [[Int]?]) -> Tensor? {
        guard position == 3, inputShapes.count > 1, let starts = inputShapes[1], starts.count == 1 else { return nil }
        return Tensor(shape: [starts[0]], data: (0..<starts[0]).map(Double.init))
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...5, Self.opType)
        guard s[0] == inputShape else { throw ModelError(.shape, "Slice built for input \(inputShape), got \(s[0])") }
        return inputShape.enumerated().map { picks[$0.offset]?.count ?? $0.element }
    }

    package func sourceIndices(inputShape shape: [Int]) throws -> [Int] {
        IndexWalk.map(outShape: try outputShape([shape]), inShape: shape) { d, i in picks[d].map { $0[i] } ?? i }
    }
}
