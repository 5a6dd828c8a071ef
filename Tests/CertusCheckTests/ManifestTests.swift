import XCTest
import Certus

final class ManifestTests: XCTestCase {
    func testExpectationTextRoundTrips() throws {
        for t in ["holds", "violated", "lipschitz <= 2.5", "lipschitz(2) <= 3.0", "bound(0) >= 0.5", "bound(3) <= -1.0"] {
            XCTAssertEqual(try Expectation.parse(t).description, t)
        }
    }
}
