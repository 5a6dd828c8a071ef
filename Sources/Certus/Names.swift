import CertusSpec
import CertusBounds
import CertusVerify
import CertusLipschitz
import CertusCheck

// The vocabulary of the front door, reachable as `Certus.X`. The module and the namespace share
// the name `Certus`, so `Certus.X` always means a member of the namespace; these aliases let a
// program that has its own `Property` or `VerificationResult` name Certus's unambiguously.
extension Certus {
    /// `VerificationResult`: what `verify` found (status, checked counterexample, time, log).
    public typealias VerificationResult = CertusVerify.VerificationResult
    /// `VerificationStatus`: `sat`, `unsat`, `unknown` or `timeout`.
    public typealias VerificationStatus = CertusVerify.VerificationStatus
    /// `Counterexample`: a checked input inside the region that violates the property.
    public typealias Counterexample = CertusVerify.Counterexample
    /// `VerificationMethod`: the strategy of `verify` (`auto`, `crown`, `bab`, ...).
    public typealias VerificationMethod = CertusVerify.VerificationMethod
    /// `VerifierSettings`: every knob of verification, with its default.
    public typealias VerifierSettings = CertusVerify.VerifierSettings
    /// `CancellationToken`: cancels a running call from another thread.
    public typealias CancellationToken = CertusVerify.CancellationToken
    /// `BranchAndBoundProgress`: a snapshot of a running branch and bound.
    public typealias BranchAndBoundProgress = CertusVerify.BranchAndBoundProgress
    /// `BatchInstance`: one row of a VNN-COMP instance list.
    public typealias BatchInstance = CertusVerify.BatchInstance
    /// `BatchRecord`: the outcome of one instance of `run`.
    public typealias BatchRecord = CertusVerify.BatchRecord
    /// `BatchSummary`: totals over a `run`.
    public typealias BatchSummary = CertusVerify.BatchSummary
    /// `ExpectedAnswers`: expected statuses of instances, for `run`.
    public typealias ExpectedAnswers = CertusVerify.ExpectedAnswers
    /// `PropertyBoundReport`: certified bounds of every row of a property (`bounds`).
    public typealias PropertyBoundReport = CertusBounds.PropertyBoundReport
    /// `BoundSettings`: the knobs of bound propagation (IBP, CROWN, alpha-CROWN).
    public typealias BoundSettings = CertusBounds.BoundSettings
    /// `BoundMethod`: `ibp`, `crown` or `alphaCrown`.
    public typealias BoundMethod = CertusBounds.BoundMethod
    /// `LipschitzResult`: certified upper and attained lower bounds per output (`lipschitz`).
    public typealias LipschitzResult = CertusLipschitz.LipschitzResult
    /// `LipschitzSettings`: the knobs of the Lipschitz analysis.
    public typealias LipschitzSettings = CertusLipschitz.LipschitzSettings
    /// `LipschitzNorm`: the input norm (`inf`, `l2`, `l1`).
    public typealias LipschitzNorm = CertusLipschitz.LipschitzNorm
    /// `LipschitzProgress`: a snapshot of the Lipschitz branch and bound.
    public typealias LipschitzProgress = CertusLipschitz.LipschitzProgress
    /// `ExactLipschitzResult`: the MILP cross-check's exact constants.
    public typealias ExactLipschitzResult = CertusLipschitz.ExactLipschitzResult
    /// `Property`: input boxes with the unsafe output clauses (a VNN-LIB property).
    public typealias Property = CertusSpec.Property
    /// `InputBox`: per input coordinate a lower and an upper end.
    public typealias InputBox = CertusSpec.InputBox
    /// `Manifest`: a `certus check` manifest.
    public typealias Manifest = CertusCheck.Manifest
    /// `CheckOptions`: jobs, policies, tags and the default time limit of `check`.
    public typealias CheckOptions = CertusCheck.CheckOptions
    /// `CheckReport`: the results of a manifest (exit code, table, JUnit, JSON).
    public typealias CheckReport = CertusCheck.CheckReport
    /// `CheckProgress`: a snapshot of a running `check`.
    public typealias CheckProgress = CertusCheck.CheckProgress
    /// `CheckRunner`: runs a manifest's entries.
    public typealias CheckRunner = CertusCheck.CheckRunner
}
