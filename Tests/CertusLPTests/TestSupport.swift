@testable import CertusLP

/// Bounds-checked accessors so that a failed solve (empty arrays) fails an assertion
/// (the value is NaN) instead of crashing the test process.
extension LPResult {
    func x(_ j: Int) -> Double { j >= 0 && j < primal.count ? primal[j] : .nan }
    func dual(_ i: Int) -> Double { i >= 0 && i < rowDuals.count ? rowDuals[i] : .nan }
    func reducedCost(_ j: Int) -> Double { j >= 0 && j < reducedCosts.count ? reducedCosts[j] : .nan }
    func activity(_ i: Int) -> Double { i >= 0 && i < rowActivity.count ? rowActivity[i] : .nan }
}

/// 0/1 knapsack: values (8, 11, 6, 4), weights (5, 7, 4, 3), capacity 14.
/// LP relaxation (greedy by value/weight 1.6, 1.57, 1.5, 1.33): a = b = 1, c = 2/4 -> 22.
/// Integer: {b, c, d} weighs exactly 14 and is worth 21; every other feasible subset is
/// worth less ({a, b} 19, {a, c, d} 18, ...), and {a, b, ·} exceeds 14. Optimum 21.
func makeSmallKnapsack() throws -> LinearProgram {
    let lp = LinearProgram()
    let values: [Double] = [8, 11, 6, 4], weights: [Double] = [5, 7, 4, 3]
    for k in 0..<4 { try lp.addBinaryVariable(name: "item\(k)") }
    try lp.addConstraint((0..<4).map { ($0, weights[$0]) }, lower: -.infinity, upper: 14)
    try lp.setObjective((0..<4).map { ($0, values[$0]) }, maximize: true)
    return lp
}

