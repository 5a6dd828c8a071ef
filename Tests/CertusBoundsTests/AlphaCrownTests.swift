import XCTest
import Foundation
import Certus
import TestSupport

/// A VNN-COMP reference case, loaded: the model, the spec, its rows and first box, an engine.
struct LoadedCase {
    let name: String
    let graph: Graph
    let property: Property
    let engine: BoundEngine
    var atoms: [LinearAtom] { property.rows.map(\.atom) }
    var box: InputBox { property.cases[0].box }

    init(_ c: (model: String, spec: String, ref: String)) throws {
        name = c.spec
        graph = try ModelFile.load(TestData.sharedPath(c.model))
        property = try PropertyLoader.load(path: TestData.sharedPath(c.spec), numOutputs: graph.outputCount)
        engine = BoundEngine(graph: graph)
    }

    /// The ACAS Xu and mnist-net_256x2 cases (fast enough for several passes each).
    static func small() throws -> [LoadedCase] {
        try VNNCompReferenceTests.cases.filter { $0.model.contains("acasxu") || $0.model.contains("256x2") }.map(LoadedCase.init)
    }
}

/// alpha-CROWN: never looser than CROWN, and within 1% of (or tighter than) the reference.
final class AlphaCrownTests: XCTestCase {
    func testZooAlphaCrownReachesReference() throws {
        var report: [String] = []
        for (m, s) in ReferenceBoundsTests.zooCases {
            let dir = TestData.sharedPath("reference/zoo/\(m)")
            let graph = try ModelFile.load("\(dir)/model.onnx")
            let property = try PropertyLoader.load(path: "\(dir)/\(s).vnnlib", numOutputs: graph.outputCount)
            let ref = try ReferenceBoundsTests.loadRef("\(dir)/\(s).ref.json")
            let atoms = property.rows.map(\.atom)
            let engine = BoundEngine(graph: graph)
            let crown = try engine.bound(box: property.cases[0].box, atoms: atoms, settings: BoundSettings(method: .crown))
            let alpha = try engine.bound(box: property.cases[0].box, atoms: atoms, settings: BoundSettings(method: .alphaCrown))
            let refAlpha = ref.allResults["alpha-CROWN"]!
            for k in atoms.indices {
                XCTAssertGreaterThanOrEqual(alpha[k].lower, crown[k].lower - 1e-9 * max(1, abs(crown[k].lower)), "\(m)/\(s) row \(k) looser than CROWN")
                let r = refAlpha.lower[k]!
                let ok = alpha[k].lower >= r - 0.01 * max(abs(r), 1e-2)
                if !ok { report.append("\(m)/\(s) row \(k): \(alpha[k].lower) vs reference \(r)") }
                XCTAssertTrue(ok, "\(m)/\(s) row \(k): alpha-CROWN \(alpha[k].lower) vs reference \(r)")
            }
        }
        print(report.joined(separator: "\n"))
    }
}

/// alpha-CROWN on the VNN-COMP cases, its single-precision search, and row-parallel CROWN.
final class AlphaCrownVNNCompTests: XCTestCase {
    /// The cases cheap enough for a debug build (256x6 runs in `certus benchmark`).
    static var cases: [(model: String, spec: String, ref: String)] {
        VNNCompReferenceTests.cases.filter { !$0.model.contains("256x6") && !$0.spec.contains("256x4_eps0.05") }
    }

    /// Property bound at least the reference's (up to 1%), every row at least CROWN's.
    func testAlphaCrownReachesReferenceOnVNNComp() throws {
        for t in Self.cases {
            let c = try LoadedCase(t)
            let ref = try ReferenceBoundsTests.loadRef(TestData.sharedPath(t.ref))
            let (property, atoms, engine) = (c.property, c.atoms, c.engine)
            let crown = try engine.bound(box: property.cases[0].box, atoms: atoms, settings: BoundSettings(method: .crown))
            let alpha = try engine.bound(box: property.cases[0].box, atoms: atoms, settings: BoundSettings(method: .alphaCrown))
            for k in atoms.indices {
                XCTAssertGreaterThanOrEqual(alpha[k].lower, crown[k].lower - 1e-9 * max(1, abs(crown[k].lower)), "\(c.name) row \(k)")
            }
            let got = VNNCompReferenceTests.propertyLower(property, alpha)
            let r = ref.allResults["alpha-CROWN"]!.property_lower!
            XCTAssertGreaterThanOrEqual(got, r - 0.01 * max(abs(r), 1e-2), "\(c.name): alpha-CROWN \(got) vs reference \(r)")
        }
    }

    /// The Float search only chooses parameters; the bound it reports is their Double value, so
    /// it is never looser than CROWN, contains sampled outputs, and is as good as the Double
    /// search (within 1%).
    func testFloatSearchMatchesDoubleSearch() throws {
        for c in try LoadedCase.small() {
            let (graph, atoms, box, engine) = (c.graph, c.atoms, c.box, c.engine)
            var s = BoundSettings(method: .alphaCrown)
            s.floatSearch = true
            let fast = try engine.bound(box: box, atoms: atoms, settings: s)
            s.floatSearch = false
            let slow = try engine.bound(box: box, atoms: atoms, settings: s)
            let crown = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: .crown))
            for k in atoms.indices {
                XCTAssertGreaterThanOrEqual(fast[k].lower, crown[k].lower - 1e-9 * max(1, abs(crown[k].lower)), "\(c.name) row \(k)")
                XCTAssertGreaterThanOrEqual(fast[k].lower, slow[k].lower - 0.01 * max(abs(slow[k].lower), 1e-2), "\(c.name) row \(k)")
            }
            // Sampled outputs lie inside the reported bounds.
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<200 {
                let x = zip(box.lower, box.upper).map { Double.random(in: $0...$1, using: &rng) }
                let y = try graph.evaluateFirst(x)
                for (k, a) in atoms.enumerated() {
                    let v = zip(a.c, y).reduce(0) { $0 + $1.0 * $1.1 } - a.d
                    XCTAssertGreaterThanOrEqual(v, fast[k].lower - 1e-7 * max(1, abs(v)), "\(c.name) row \(k)")
                    XCTAssertLessThanOrEqual(v, fast[k].upper + 1e-7 * max(1, abs(v)), "\(c.name) row \(k)")
                }
            }
        }
    }

    /// Splitting CROWN's rows over threads gives the same bounds as one thread.
    func testRowParallelCROWNEqualsSerial() throws {
        let c = try LoadedCase(Self.cases.first { $0.model.contains("256x4") }!)
        let (graph, property, atoms) = (c.graph, c.property, c.atoms)
        var serial = BoundSettings(method: .crown)
        serial.threads = 1
        var parallel = serial
        parallel.threads = 2; parallel.parallelWork = 0; parallel.minimumRowsPerThread = 1
        let a = try BoundEngine(graph: graph).bound(box: property.cases[0].box, atoms: atoms, settings: serial)
        let b = try BoundEngine(graph: graph).bound(box: property.cases[0].box, atoms: atoms, settings: parallel)
        for k in atoms.indices {
            XCTAssertEqual(a[k].lower, b[k].lower, accuracy: 1e-9 * max(1, abs(a[k].lower)))
            XCTAssertEqual(a[k].upper, b[k].upper, accuracy: 1e-9 * max(1, abs(a[k].upper)))
        }
    }
}

/// The dense-chain fast path computes the same bounds as the general pass.
final class ChainPathTests: XCTestCase {
    func testChainPathEqualsGeneralPass() throws {
        for c in try LoadedCase.small() {
            let (graph, atoms, box, engine) = (c.graph, c.atoms, c.box, c.engine)
            var fast = BoundSettings(method: .crown)
            fast.chainFastPath = true
            var slow = fast
            slow.chainFastPath = false
            let root = try engine.rootBounds(box: box, settings: BoundSettings(method: .alphaCrown))
            // Plain, with root bounds, and with splits of the first unstable neurons.
            let top = try engine.boundDomain(box: box, atoms: atoms, splits: [], settings: slow)
            var splits: [NeuronSplit] = []
            for info in top.splittable.prefix(2) {
                if let j = info.lower.indices.first(where: { info.lower[$0] < 0 && info.upper[$0] > 0 }) {
                    splits.append(NeuronSplit(value: info.value, index: j, active: splits.count % 2 == 0))
                }
            }
            // With root bounds kept as they are (branch and bound's mode), the chain pass skips
            // IBP for the layers before the first split; the general pass does not.
            var fastReuse = fast, slowReuse = slow
            fastReuse.reuseKnownBounds = true; slowReuse.reuseKnownBounds = true
            for (sp, r, fast, slow) in [([NeuronSplit](), nil as IntermediateBounds?, fast, slow), ([], root, fast, slow),
                                        (splits, root, fast, slow), (splits, nil, fast, slow),
                                        ([], root, fastReuse, slowReuse), (splits, root, fastReuse, slowReuse)] {
                let a: DomainBounds, b: DomainBounds
                do { a = try engine.boundDomain(box: box, atoms: atoms, splits: sp, settings: fast, root: r) } catch is InfeasibleDomain {
                    XCTAssertThrowsError(try engine.boundDomain(box: box, atoms: atoms, splits: sp, settings: slow, root: r)); continue
                }
                b = try engine.boundDomain(box: box, atoms: atoms, splits: sp, settings: slow, root: r)
                for k in atoms.indices {
                    XCTAssertEqual(a.rows[k].lower, b.rows[k].lower, accuracy: 1e-9 * max(1, abs(b.rows[k].lower)), "\(c.name) row \(k)")
                    XCTAssertEqual(a.rows[k].upper, b.rows[k].upper, accuracy: 1e-9 * max(1, abs(b.rows[k].upper)), "\(c.name) row \(k)")
                }
                for (x, y) in zip(a.splittable, b.splittable) {
                    for j in x.lower.indices {
                        XCTAssertEqual(x.lower[j], y.lower[j], accuracy: 1e-9 * max(1, abs(y.lower[j])))
                        XCTAssertEqual(x.upper[j], y.upper[j], accuracy: 1e-9 * max(1, abs(y.upper[j])))
                    }
                }
            }
            // The chain's own evaluation equals the model's.
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<20 {
                let x = zip(box.lower, box.upper).map { Double.random(in: $0...$1, using: &rng) }
                let y0 = try graph.evaluateFirst(x)
                let y1 = try XCTUnwrap(engine.evaluateChain(x))
                for (u, v) in zip(y0, y1) { XCTAssertEqual(u, v, accuracy: 1e-9 * max(1, abs(u))) }
            }
        }
    }
}
