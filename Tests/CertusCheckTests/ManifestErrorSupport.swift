import XCTest
import Certus

extension XCTestCase {
    /// The error a manifest text gives (fails the test when it parses), for the manifest suites.
    func error(_ text: String, format: Manifest.Format = .yaml, file: StaticString = #filePath, line: UInt = #line) -> ManifestError? {
        do {
            _ = try Manifest.parse(text: text, source: "m." + format.rawValue, format: format)
            XCTFail("parsed, but an error was expected:\n\(text)", file: file, line: line)
            return nil
        } catch let e as ManifestError {
            return e
        } catch {
            XCTFail("not a ManifestError: \(error)", file: file, line: line)
            return nil
        }
    }
}
