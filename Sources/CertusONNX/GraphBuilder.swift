import Foundation
import CertusTensor
import CertusGraph

/// Builds the graph IR from an ONNX `ModelProto`: finds the real input, turns initializers and
/// constant subgraphs into constants, orders nodes topologically, builds each operator and
/// checks every shape.
enum GraphBuilder {
    /// Largest number of elements of a value the graph computes (the input and every node
    /// output): 2^26, 512 MiB as `Double`, or the largest tensor the file stores when that is
    /// larger. A model whose shapes ask for more is refused while it is built
    /// (docs/reliability.md, "Adversarial inputs"), before anything that size is made.
    package static let maxValueElements = 1 << 26
    /// Constant folding may create at most this many elements in all (2^24, 128 MiB as
    /// `Double`) plus twice the elements the file stores (its initializers and Constant nodes),
    /// so a small file cannot ask for gigabytes through ConstantOfShape, Expand or Tile.
    package static let foldingBaseElements = 1 << 24

    static func build(_ model: Onnx_ModelProto, file: String) throws -> Graph {
        do {
            return try buildUnlocated(model)
        } catch let e as ModelError {
            throw e.inFile(file)
        }
    }

    static func buildUnlocated(_ model: Onnx_ModelProto) throws -> Graph {
        let g = model.graph
        var meta = ModelMetadata()
        meta.irVersion = Int(model.irVersion)
        meta.producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        let defaultOpset = model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        meta.opset = Int(defaultOpset?.version ?? (model.opsetImport.isEmpty ? 1 : 0))
        for n in g.node { meta.opCounts[n.opType, default: 0] += 1 }

        var values: [ValueInfo] = []
        var ids: [String: Int] = [:]
        var constants: [Int: Tensor] = [:]
        var storedElements = 0   // elements of initializers and Constant nodes (their data is in the file)
        var largestStored = 0    // elements of the largest of them
        var foldedElements = 0   // elements created by constant folding, against the folding budget
        func addValue(_ name: String, _ shape: [Int]) -> Int {
            values.append(ValueInfo(name: name, shape: shape))
            ids[name] = values.count - 1
            return values.count - 1
        }

        // Initializers.
        for t in g.initializer {
            let tensor = try TensorConversion.tensor(t)
            guard ids[t.name] == nil else { throw ModelError(.invalidModel, location: "tensor '\(t.name)'", "initializer name is used twice") }
            let id = addValue(t.name, tensor.shape)
            constants[id] = tensor
            meta.parameterCount += tensor.count
            storedElements += tensor.count
            largestStored = max(largestStored, tensor.count)
        }

        // The real input: a graph input that is neither an initializer nor produced by a node.
        let produced = Set(g.node.flatMap { $0.output })
        let realInputs = g.input.filter { ids[$0.name] == nil && !produced.contains($0.name) }
        guard realInputs.count == 1 else {
            if realInputs.isEmpty { throw ModelError(.invalidModel, "the graph has no input (every graph input is an initializer)") }
            throw ModelError(.unsupportedFeature, "models with several inputs are not supported; inputs: \(realInputs.map { "'\($0.name)'" }.joined(separator: ", "))")
        }
        let inputInfo = realInputs[0]
        let inputShape = try shape(of: inputInfo)
        try checkSize(inputShape, limit: max(maxValueElements, largestStored), location: "input '\(inputInfo.name)'")
        let inputID = addValue(inputInfo.name, inputShape)

        // Every unsupported operator at once (with node names and counts), before building any.
        var unsupported: [(name: String, opType: String)] = []
        for (index, n) in g.node.enumerated() {
            let defaultDomain = n.domain.isEmpty || n.domain == "ai.onnx"
            guard !defaultDomain || !OperatorRegistry.isSupported(n.opType) else { continue }
            unsupported.append((displayName(n, index: index), defaultDomain ? n.opType : "\(n.domain).\(n.opType)"))
        }
        if let e = OperatorRegistry.unsupportedError(unsupported) { throw e }

        // Topological order (ONNX asks producers to come first, but do not rely on it).
        let ordered = try topologicalOrder(g.node, available: Set(ids.keys))
        var nodes: [Node] = []

        for (index, n) in ordered {
            let display = displayName(n, index: index)
            let location = "node '\(display)' (\(n.opType))"
            guard n.domain.isEmpty || n.domain == "ai.onnx" else {
                throw ModelError(.unsupportedOperator, location: location,
                                 "unsupported operator '\(n.opType)' from domain '\(n.domain)'; only the default ONNX domain is supported")
            }
            // Inputs: drop trailing empty (absent optional) inputs; an absent input in the middle is unsupported.
            // An omitted optional input before a present one takes the operator's default
            // (`Operator.omittedInput`), as a constant.
            var inputNames = n.input
            while let last = inputNames.last, last.isEmpty { inputNames.removeLast() }
            let shapesGiven: [[Int]?] = inputNames.map { $0.isEmpty ? nil : ids[$0].map { values[$0].shape } }
            var inputIDs: [Int] = []
            for (position, name) in inputNames.enumerated() {
                if name.isEmpty {
                    guard let value = OperatorRegistry.type(of: n.opType)?.omittedInput(at: position, inputShapes: shapesGiven) else {
                        throw ModelError(.unsupportedFeature, location: location,
                                         "input \(position) is omitted before a present one, and \(n.opType) has no default for it")
                    }
                    let id = addValue("\(display):omitted input \(position)", value.shape)
                    constants[id] = value
                    inputIDs.append(id)
                    continue
                }
                guard let id = ids[name] else {
                    throw ModelError(.invalidModel, location: location, "input '\(name)' is not produced by any node, initializer or graph input")
                }
                inputIDs.append(id)
            }
            guard let outName = n.output.first, !outName.isEmpty else {
                throw ModelError(.invalidModel, location: location, "node has no output")
            }
            let attributes = try Dictionary(n.attribute.map { ($0.name, try attributeValue($0, location: location)) },
                                            uniquingKeysWith: { a, _ in a })
            let ctx = NodeContext(name: display, opType: n.opType, opset: meta.opset, attributes: attributes,
                                  inputShapes: inputIDs.map { values[$0].shape },
                                  constantInputs: inputIDs.map { constants[$0] }, outputCount: n.output.count)
            let first: any Operator
            do {
                first = try OperatorRegistry.make(ctx)
            } catch let e as ModelError {
                throw ModelError(e.kind, location: e.location ?? location, e.message)
            }
            if n.opType == Constant.opType, let c = first as? Constant {
                meta.parameterCount += c.value.count
                storedElements += c.value.count
                largestStored = max(largestStored, c.value.count)
            }
            // One graph node per output: operators with several outputs (Split) give one operator
            // per used output; for any other operator the extra outputs (BatchNormalization's
            // training statistics, Dropout's mask) must be unused.
            var parts: [(name: String, output: String, op: any Operator)] = [(display, outName, first)]
            if let multi = first as? any MultipleOutputs {
                for (k, extra) in n.output.enumerated().dropFirst() where !extra.isEmpty && k < multi.outputCount {
                    parts.append(("\(display):\(k)", extra, multi.output(k)))
                }
            } else {
                for extra in n.output.dropFirst() where !extra.isEmpty {
                    if g.node.contains(where: { $0.input.contains(extra) }) || g.output.contains(where: { $0.name == extra }) {
                        throw ModelError(.unsupportedFeature, location: location, "only the first output of a node may be used; '\(extra)' is used")
                    }
                }
            }
            for (partName, partOutput, op) in parts {
                let outShape: [Int]
                do {
                    outShape = try op.outputShape(ctx.inputShapes)
                } catch let e as ModelError {
                    throw ModelError(e.kind, location: e.location ?? location, e.message)
                }
                guard ids[partOutput] == nil else {
                    throw ModelError(.invalidModel, location: location, "output '\(partOutput)' is produced twice")
                }
                let outCount = try checkSize(outShape, limit: max(maxValueElements, largestStored), location: location)
                let outID = addValue(partOutput, outShape)
                let shapeFunction = op as? any ShapeFunction
                if shapeFunction != nil || inputIDs.allSatisfy({ constants[$0] != nil }) {
                    // Constant folding: Constant nodes, shape arithmetic on constants, and operators
                    // that read only their inputs' (static) shapes, such as Shape of a computed value.
                    foldedElements += outCount
                    let budget = foldingBaseElements + 2 * storedElements
                    guard foldedElements <= budget else {
                        throw ModelError(.unsupportedFeature, location: location,
                                         "constant folding would create more than \(budget) values (output shape \(outShape)); the limit is \(foldingBaseElements) plus twice the \(storedElements) values the file stores")
                    }
                    do {
                        let v = try shapeFunction?.value(inputShapes: ctx.inputShapes) ?? op.evaluate(inputIDs.map { constants[$0]! })
                        guard v.shape == outShape else {
                            throw ModelError(.shape, location: location, "computed shape \(v.shape) differs from inferred \(outShape)")
                        }
                        constants[outID] = v
                    } catch let e as ModelError {
                        throw ModelError(e.kind, location: e.location ?? location, e.message)
                    }
                } else {
                    nodes.append(Node(name: partName, opType: n.opType, op: op, inputs: inputIDs, output: outID))
                }
            }
        }

        guard !g.output.isEmpty else { throw ModelError(.invalidModel, "the graph declares no output") }
        var outputs: [Int] = []
        for o in g.output {
            guard let id = ids[o.name] else {
                throw ModelError(.invalidModel, location: "output '\(o.name)'", "graph output is not produced by any node")
            }
            // Declared output shapes, when fully static, must agree with inference.
            if let declared = try? shape(of: o, batchAsOne: true), declared.count == values[id].shape.count,
               declared.reduce(1, *) > 0, declared != values[id].shape {
                throw ModelError(.shape, location: "output '\(o.name)'", "declared shape \(declared) differs from the inferred shape \(values[id].shape)")
            }
            outputs.append(id)
        }
        // Keep only nodes that the outputs depend on.
        var needed = Set(outputs)
        var kept: [Node] = []
        for node in nodes.reversed() where needed.contains(node.output) {
            kept.append(node)
            needed.formUnion(node.inputs)
        }
        return Graph(values: values, constants: constants, nodes: kept.reversed(), input: inputID, outputs: outputs, metadata: meta)
    }
}

extension GraphBuilder {
    /// The element count of a computed value's shape, checked against `limit`
    /// (``maxValueElements``, or the largest stored tensor when larger).
    /// - Throws: `ModelError` at `location` for a count that overflows or passes the limit.
    @discardableResult
    static func checkSize(_ shape: [Int], limit: Int, location: String) throws -> Int {
        var n = 1
        for d in shape {
            let (p, overflow) = n.multipliedReportingOverflow(by: max(d, 0))
            guard !overflow, p <= limit else {
                throw ModelError(.unsupportedFeature, location: location,
                                 "shape \(shape) has more than \(limit) elements, the largest value Certus computes for this model")
            }
            n = p
        }
        return n
    }

    /// The name errors use for a node: its name, or its index and first output when unnamed.
    static func displayName(_ n: Onnx_NodeProto, index: Int) -> String {
        n.name.isEmpty ? "#\(index) \(n.output.first.map { "-> '\($0)'" } ?? "")" : n.name
    }

    /// Shape of a graph input or output from its value info. A symbolic dimension is taken as 1
    /// (the batch dimension of a single input).
    static func shape(of info: Onnx_ValueInfoProto, batchAsOne: Bool = true) throws -> [Int] {
        let where_ = "input '\(info.name)'"
        guard info.hasType, case .tensorType(let tt)? = info.type.value else {
            throw ModelError(.invalidModel, location: where_, "has no tensor type")
        }
        if tt.hasElemType, ![1, 10, 11, 16].contains(tt.elemType) {
            throw ModelError(.unsupportedFeature, location: where_, "element type \(TensorConversion.typeName(tt.elemType)) is not supported; inputs must be floating point")
        }
        guard tt.hasShape else { throw ModelError(.invalidModel, location: where_, "has no shape") }
        return try tt.shape.dim.enumerated().map { i, d in
            switch d.value {
            case .dimValue(let v)?:
                guard v >= 0 else { throw ModelError(.invalidModel, location: where_, "dimension \(i) is negative (\(v))") }
                return Int(v)
            case .dimParam?, nil:
                guard batchAsOne else { throw ModelError(.invalidModel, location: where_, "dimension \(i) is symbolic") }
                return 1
            }
        }
    }

    /// Kahn's algorithm, keeping file order among ready nodes. Returns (original index, node).
    static func topologicalOrder(_ nodes: [Onnx_NodeProto], available: Set<String>) throws -> [(Int, Onnx_NodeProto)] {
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for o in n.output where !o.isEmpty { producer[o] = i } }
        var indegree = [Int](repeating: 0, count: nodes.count)
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (i, n) in nodes.enumerated() {
            for name in Set(n.input) where !name.isEmpty {
                if let p = producer[name], p != i {
                    indegree[i] += 1
                    consumers[p].append(i)
                } else if producer[name] == i {
                    throw ModelError(.invalidModel, location: "node '\(n.name)' (\(n.opType))", "reads its own output '\(name)'")
                }
            }
        }
        var ready = (0..<nodes.count).filter { indegree[$0] == 0 }
        var order: [(Int, Onnx_NodeProto)] = []
        var head = 0
        while head < ready.count {
            let i = ready[head]; head += 1
            order.append((i, nodes[i]))
            for c in consumers[i] {
                indegree[c] -= 1
                if indegree[c] == 0 { ready.append(c) }
            }
        }
        if order.count < nodes.count {
            let stuck = nodes.indices.filter { indegree[$0] > 0 }.map { "'\(nodes[$0].name)'" }
            throw ModelError(.invalidModel, "the graph has a cycle through nodes \(stuck.prefix(5).joined(separator: ", "))")
        }
        return order
    }

    /// Reads an attribute. Non-finite float attributes (and tensors) are refused: no supported
    /// operator gives them a meaning, and a NaN weight would silently poison every bound.
    static func attributeValue(_ a: Onnx_AttributeProto, location: String) throws -> AttributeValue {
        func nonFinite(_ name: String, _ what: String) -> ModelError {
            ModelError(.invalidModel, location: "\(location) attribute '\(name)'",
                       "holds a non-finite value (\(what)); only finite numbers are supported")
        }
        var type = a.type
        if !a.hasType {   // very old files leave the type unset; infer it from the field present
            if a.hasT { type = .tensor } else if a.hasS { type = .string } else if a.hasI { type = .int }
            else if a.hasF { type = .float } else if !a.ints.isEmpty { type = .ints }
            else if !a.floats.isEmpty { type = .floats } else if !a.strings.isEmpty { type = .strings }
        }
        switch type {
        case .int: return .int(Int(a.i))
        case .float:
            guard a.f.isFinite else { throw nonFinite(a.name, "\(a.f)") }
            return .float(Double(a.f))
        case .ints: return .ints(a.ints.map { Int($0) })
        case .floats:
            if let k = a.floats.firstIndex(where: { !$0.isFinite }) { throw nonFinite(a.name, "\(a.floats[k]) at position \(k)") }
            return .floats(a.floats.map { Double($0) })
        case .string: return .string(String(decoding: a.s, as: UTF8.self))
        case .strings: return .strings(a.strings.map { String(decoding: $0, as: UTF8.self) })
        case .tensor:
            do { return .tensor(try TensorConversion.tensor(a.t)) } catch let e as ModelError {
                let tensor = a.t.name.isEmpty ? "" : " (tensor '\(a.t.name)')"
                throw ModelError(e.kind, location: "\(location) attribute '\(a.name)'\(tensor)", e.message)
            }
        default: return .unsupported("\(type)")
        }
    }
}
