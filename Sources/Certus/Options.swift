import Foundation
import CertusBounds
import CertusVerify
import CertusLipschitz

extension Certus {
    /// Options of `Certus.verify`: the procedure, the time budget, cancellation and progress.
    public struct VerifyOptions: Sendable {
        /// The procedure after the falsification attack (default `auto`: CROWN, then input
        /// splitting for low-dimensional inputs, else alpha-CROWN and branch and bound).
        public var method: VerificationMethod
        /// Every knob of the pipeline (attack, margins, branch and bound), each documented with its
        /// default in `VerifierSettings`; `timeout` and `seed` below are two of them.
        public var settings = VerifierSettings()
        /// Cancelling this token stops the verification at its next check; `verify` then throws
        /// `CertusError` of kind `.cancelled`. The async `verify` cancels it with its task.
        public var cancellation: CancellationToken? = nil
        /// Cancelling this token ends the verification as its time limit would, at the next
        /// check of the running stage (between attack steps and search batches, inside bound
        /// passes, every 0.2 s of a GLPK solve): `verify` then returns the result reached so far
        /// (`timeout`, with the search's log and global lower bound in `details`) instead of
        /// throwing. `certus verify` and `certus run` cancel it on SIGINT and SIGTERM.
        public var stop: CancellationToken? = nil
        /// Called from worker threads with branch-and-bound progress (a few calls a second at
        /// most); nil for silence.
        public var progress: ProgressHandler? = nil

        /// The time budget in seconds (default 60). When it runs out the answer is `timeout`.
        public var timeout: Double {
            get { settings.timeout }
            set { settings.timeout = newValue }
        }
        /// Seed of the attack's random generator (default 0: the same inputs give the same answer).
        public var seed: UInt64 {
            get { settings.seed }
            set { settings.seed = newValue }
        }
        /// The arithmetic the answer holds for (default `.real`; `VerifierSettings.semantics`).
        public var semantics: NumericSemantics {
            get { settings.semantics }
            set { settings.semantics = newValue }
        }

        /// Options with a method and a time budget in seconds.
        public init(method: VerificationMethod = .auto, timeout: Double = 60) {
            self.method = method
            settings.timeout = timeout
        }
    }

    /// Options of `Certus.bounds`.
    public struct BoundsOptions: Sendable {
        /// Every knob of bound propagation (`BoundSettings`); `method` is one of them.
        public var settings: BoundSettings
        /// Time budget in seconds for alpha-CROWN's optimisation (the bounds reached by then are
        /// reported; they are sound at every step); nil: no limit. IBP and CROWN are single passes.
        public var timeout: Double? = nil
        /// Checked before the pass starts and when it ends (a cancelled call throws `CertusError`
        /// of kind `.cancelled`); within alpha-CROWN's optimisation, `timeout` bounds the time.
        public var cancellation: CancellationToken? = nil

        /// The arithmetic the bounds hold for (default `.real`): under `.float32` they enclose the
        /// float32 evaluation on the box's float32 inputs (docs/reliability.md), and the report
        /// says so (`PropertyBoundReport.semantics`).
        public var semantics: NumericSemantics = .real

        /// IBP, CROWN (default) or alpha-CROWN.
        public var method: BoundMethod {
            get { settings.method }
            set { settings.method = newValue }
        }

        /// Options for one method.
        public init(method: BoundMethod = .crown, timeout: Double? = nil) {
            settings = BoundSettings(method: method)
            self.timeout = timeout
        }
    }

    /// Options of `Certus.lipschitz`.
    public struct LipschitzOptions: Sendable {
        /// Every knob of the analysis (`LipschitzSettings`: norm, outputs, method, samples, seed,
        /// target ratio and branching, progress); the properties below are shortcuts to them.
        public var settings = LipschitzSettings()
        /// The time budget in seconds (default 60): the certified bound reached by then is
        /// reported, with `complete == false`.
        public var timeout: Double = 60
        /// Also compute the exact constant with a GLPK MILP over activation patterns (LipMIP,
        /// Jordan and Dimakis, NeurIPS 2020), for piecewise-linear networks and the L-inf or L1
        /// input norm: a cross-check, not a certified bound (default false). It gets its own
        /// `timeout`.
        public var exact = false
        /// Checked before the analysis, between its steps and when it ends (a cancelled call
        /// throws `CertusError` of kind `.cancelled`); within a bound pass, `timeout` bounds the time.
        public var cancellation: CancellationToken? = nil

        /// The input norm (default L-inf; the constant is the dual norm of the gradient).
        public var norm: LipschitzNorm {
            get { settings.norm }
            set { settings.norm = newValue }
        }
        /// Bound method on the Jacobian graph: `.crown` or `.alphaCrown` (default).
        public var method: BoundMethod {
            get { settings.method }
            set { settings.method = newValue }
        }
        /// The outputs to analyse (default all).
        public var outputs: [Int]? {
            get { settings.outputs }
            set { settings.outputs = newValue }
        }
        /// Branch and bound until certified <= ratio x attained (or the time budget); nil: none.
        public var targetRatio: Double? {
            get { settings.targetRatio }
            set { settings.targetRatio = newValue }
        }
        /// Called from worker threads with branch-and-bound progress (with `targetRatio`).
        public var progress: (@Sendable (LipschitzProgress) -> Void)? {
            get { settings.progress }
            set { settings.progress = newValue }
        }

        /// Options with a norm, a method and a time budget in seconds.
        public init(norm: LipschitzNorm = .inf, method: BoundMethod = .alphaCrown, timeout: Double = 60) {
            settings.norm = norm
            settings.method = method
            self.timeout = timeout
        }
    }

    /// Options of `Certus.run` (a VNN-COMP instance list).
    public struct BatchOptions: Sendable {
        /// The procedure per instance (default `auto`).
        public var method: VerificationMethod = .auto
        /// Knobs for every instance; `timeout` is replaced by the row's time limit x `timeoutScale`.
        public var settings = VerifierSettings()
        /// Factor applied to every row's time limit (default 1).
        public var timeoutScale: Double = 1
        /// Cancelling this token ends the running instance as its time limit would (its record
        /// says `timeout`) and starts no other: `run` returns the records so far.
        public var stop: CancellationToken? = nil
        /// Runs one instance elsewhere instead of in this process (e.g. `certus run` runs each in a
        /// child process of its own, so that a crash is that instance's error and the run goes
        /// on): given the 0-based index, the instance and its expected answer, returns its record.
        /// nil (default): every instance runs in this process.
        public var execute: (@Sendable (_ index: Int, _ instance: BatchInstance, _ expected: VerificationStatus?) -> BatchRecord)? = nil
        /// Where the first instance's time limit counts from (nil: its own start, before its model
        /// is loaded). A `certus run` child passes its process's start (`ProcessClock`).
        public var firstStart: ContinuousClock.Instant? = nil
        /// The watchdog of instances run in this process (`certus run --in-process`): when set, each
        /// instance runs on a thread of its own, and if it has not returned this many seconds after
        /// its time limit (counted from its start, loading included), its record is `timeout`
        /// (method `watchdog`), its stop token is cancelled and the run goes on (the abandoned
        /// thread ends at its next stop check, or with the process). nil: no watchdog.
        public var watchdogGrace: Double? = nil
        /// A test hook, nil in normal use: seconds each instance sleeps after its model is loaded,
        /// without a stop check (a stage that overruns its time limit, for testing the watchdog;
        /// `certus run` sets it from `CERTUS_TEST_STALL_SECONDS`).
        public var stallAfterLoading: Double? = nil
        /// Default options.
        public init() {}
    }

    /// What `Certus.run` reports while it works, in order, from the calling thread except
    /// `search` (from worker threads).
    public enum BatchEvent: Sendable {
        /// Instance `index` (0-based) starts.
        case started(index: Int, instance: BatchInstance)
        /// Branch-and-bound progress of the running instance.
        case search(index: Int, progress: BranchAndBoundProgress)
        /// Instance `index` finished with `record`.
        case finished(index: Int, record: BatchRecord)
    }
}
