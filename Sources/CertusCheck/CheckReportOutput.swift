import Foundation
import CertusSpec

extension CheckReport {
    // MARK: JSON

    /// The full report as JSON (keys sorted; numbers JSON cannot hold written as the strings
    /// "inf", "-inf", "nan", as in every Certus JSON output).
    public func jsonData(pretty: Bool = true) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try enc.encode(self)
    }

    /// Reads a report written by `jsonData`.
    public static func decode(json: Data) throws -> CheckReport {
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try dec.decode(CheckReport.self, from: json)
    }

    // MARK: JUnit

    /// The JUnit classname of a result: "`suite`.`first tag`", or the suite name for an entry
    /// without tags.
    public func junitClassname(_ r: CheckEntryResult) -> String {
        r.tags.first.map { suite + "." + $0 } ?? suite
    }

    /// The report as JUnit XML, as GitHub Actions reporters, GitLab and Jenkins read it:
    /// `<testsuites>` holding one `<testsuite>` with one `<testcase>` per entry (name: the
    /// entry's name; classname: `junitClassname`). A `fail`, or an undecided entry under the
    /// `fail` policy, gets `<failure message=... type=STATUS>` whose text holds the
    /// counterexample or the certified bound; an `error` gets `<error>`; an undecided entry
    /// under the `warn` policy gets `<skipped message=...>`. Every testcase has `<system-out>`
    /// with the message, the model, the spec and the library's log. Every text and attribute
    /// is XML-escaped; characters XML 1.0 cannot hold are written as `\u{XX}`. The report of a
    /// manifest that could not be read (`error` set) has one `<error>` testcase named "manifest".
    public func junitXML() -> String {
        var failures = 0, errors = 0, skipped = 0
        var cases: [String] = []
        for r in results {
            var body = ""
            let text = failureText(r)
            switch (r.status, r.outcome) {
            case (.pass, _): break
            case (.error, _):
                errors += 1
                body += "      <error message=\"\(XML.attribute(r.message))\" type=\"error\">\(XML.text(text))</error>\n"
            case (_, .warn):
                skipped += 1
                body += "      <skipped message=\"\(XML.attribute(r.status.rawValue + " (warn policy): " + r.message))\"/>\n"
            default:
                failures += 1
                body += "      <failure message=\"\(XML.attribute(r.message))\" type=\"\(r.status.rawValue)\">\(XML.text(text))</failure>\n"
            }
            body += "      <system-out>\(XML.text(systemOut(r)))</system-out>\n"
            cases.append("    <testcase name=\"\(XML.attribute(r.name))\" classname=\"\(XML.attribute(junitClassname(r)))\" time=\"\(XML.time(r.timeSeconds))\">\n"
                         + body + "    </testcase>\n")
        }
        if let error {
            // Nothing ran: one testcase that names the manifest problem.
            errors += 1
            cases.append("    <testcase name=\"manifest\" classname=\"\(XML.attribute(suite))\" time=\"0.000\">\n"
                         + "      <error message=\"\(XML.attribute(error.message))\" type=\"\(XML.attribute(error.kind))\">"
                         + "\(XML.text("the manifest \(manifest) could not be read, so no entry ran:\n\(error.message)"))</error>\n"
                         + "    </testcase>\n")
        }
        let counts = "tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"\(skipped)\" time=\"\(XML.time(timeSeconds))\""
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites name=\"\(XML.attribute(suite))\" \(counts)>\n"
        xml += "  <testsuite name=\"\(XML.attribute(suite))\" \(counts)>\n"
        xml += "    <properties>\n"
        var props: [(String, String)] = [("manifest", manifest), ("policy.unknown", policies.unknown.rawValue),
                                         ("policy.timeout", policies.timeout.rawValue), ("exit_code", "\(exitCode)")]
        if let selectedTags { props.append(("tags", selectedTags.joined(separator: ","))) }
        for (k, v) in props { xml += "      <property name=\"\(XML.attribute(k))\" value=\"\(XML.attribute(v))\"/>\n" }
        xml += "    </properties>\n"
        xml += cases.joined()
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }

    /// The failure text: what was expected, what was found (the counterexample, the bound).
    func failureText(_ r: CheckEntryResult) -> String {
        var lines = ["\(r.status.rawValue): \(r.message)", "expected: \(r.expect)", "model: \(r.model)", "spec: \(r.spec)",
                     "method: \(r.method)" + (r.decidedBy.map { " (decided by \($0))" } ?? "")]
        if let a = r.answer { lines.append("verifier answer: \(a.rawValue)") }
        if let cx = r.counterexample {
            lines.append("counterexample (VNN-COMP form):")
            lines.append(cx.witness.trimmingCharacters(in: .newlines))
        }
        if let b = r.bound { lines.append("certified bound: \(Expectation.format(b))") }
        if let a = r.attained { lines.append("attained lower bound: \(Expectation.format(a))") }
        return lines.joined(separator: "\n")
    }

    func systemOut(_ r: CheckEntryResult) -> String {
        ([failureText(r)] + (r.details.isEmpty ? [] : ["log:"] + r.details)).joined(separator: "\n")
    }

    // MARK: Text

    /// A short result column: the verifier's answer, the certified bound, or "error".
    static func shortResult(_ r: CheckEntryResult) -> String {
        if r.status == .error { return "error" }
        if let a = r.answer { return a.rawValue + (r.decidedBy.map { $0 == "none" ? "" : " (\($0))" } ?? "") }
        if r.attained != nil, let b = r.bound { return "L <= \(Expectation.format(b)), attained \(Expectation.format(r.attained!))" }
        if let b = r.bound { return "bound \(Expectation.format(b))" }
        return ""
    }

    /// The table `certus check` prints on stdout: one row per entry (status, name, expectation,
    /// result, and the time unless `times` is false; names and messages with control and other
    /// invisible characters escaped as `VisibleText` does), the message of every entry that did not
    /// pass, and a summary line.
    public func table(times: Bool = true) -> String {
        func status(_ r: CheckEntryResult) -> String {
            r.outcome == .warn ? r.status.rawValue + "*" : r.status.rawValue
        }
        let header = ["#", "status", "entry", "expect", "result"] + (times ? ["time"] : [])
        var rows: [[String]] = []
        for r in results {
            rows.append(["\(r.index + 1)", status(r), VisibleText.escaped(r.name), VisibleText.escaped(r.expect), CheckReport.shortResult(r)]
                        + (times ? [String(format: "%.2f s", r.timeSeconds)] : []))
        }
        let widths = header.indices.map { c in min(48, ([header] + rows).map { $0[c].count }.max() ?? 0) }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, s in
                let cut = s.count > widths[c] ? String(s.prefix(widths[c] - 3)) + "..." : s
                return c == cells.count - 1 ? cut : cut.padding(toLength: widths[c], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        var out = [line(header)] + rows.map(line)
        let notable = results.filter { $0.status != .pass }
        if !notable.isEmpty {
            out.append("")
            for r in notable {
                out.append("\(r.status.rawValue.uppercased())\(r.outcome == .warn ? " (warning)" : "") "
                           + "\(VisibleText.escaped(r.name)): \(VisibleText.escaped(r.message))")
            }
        }
        let s = summary
        var parts = ["\(s.pass) pass", "\(s.fail) fail", "\(s.error) error", "\(s.unknown) unknown", "\(s.timeout) timeout"]
        if s.warnings > 0 { parts.append("\(s.warnings) counted as warnings (*)") }
        out.append("")
        out.append("\(s.total) entr\(s.total == 1 ? "y" : "ies"): " + parts.joined(separator: ", ")
                   + (times ? String(format: " in %.2f s", timeSeconds) : "")
                   + " -> " + (passed ? "passed" : "FAILED") + " (exit \(exitCode))")
        return out.joined(separator: "\n") + "\n"
    }
}

/// XML 1.0 escaping.
enum XML {
    /// Text content: `&`, `<`, `>` escaped; characters XML 1.0 cannot hold written as `\u{XX}`.
    static func text(_ s: String) -> String { escape(s, attribute: false) }

    /// An attribute value in double quotes: also `"`, `'` and line breaks and tabs (as
    /// character references, so that readers keep them).
    static func attribute(_ s: String) -> String { escape(s, attribute: true) }

    static func time(_ t: Double) -> String { t.isFinite ? String(format: "%.3f", max(0, t)) : "0" }

    static func escape(_ s: String, attribute: Bool) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"" where attribute: out += "&quot;"
            case "'" where attribute: out += "&apos;"
            case "\n" where attribute: out += "&#10;"
            case "\r": out += "&#13;"
            case "\t" where attribute: out += "&#9;"
            case "\n", "\t": out.unicodeScalars.append(u)
            default:
                let v = u.value
                let legal = v >= 0x20 && v != 0xFFFE && v != 0xFFFF && !(0x7F...0x84).contains(v) && !(0x86...0x9F).contains(v)
                if legal { out.unicodeScalars.append(u) } else { out += "\\u{" + String(v, radix: 16, uppercase: true) + "}" }
            }
        }
        return out
    }
}
