//! The registry of diagnostic codes: each stable code, its one-line title and its long form
//! (`codes/<CODE>.md`, printed by `aistack explain`). Codes by stage: E01xx syntax, E02xx names
//! and modules, E03xx types and units, E04xx domain rules and policy, W04xx warnings, E05xx
//! output, E06xx operational (state, lock, apply; raised by the deploy crate). The built-in
//! policy rules (AIS1xx) are not codes of this list: they are in `check::policy::RULES`,
//! documented in `docs/rules/`.

macro_rules! declare_codes {
    ($($name:ident = $code:literal, $title:literal;)*) => {
        $(pub const $name: &str = $code;)*
        /// Every code with its title and long form, in code order.
        pub const ALL: &[(&str, &str, &str)] = &[
            $(($code, $title, include_str!(concat!("codes/", $code, ".md"))),)*
        ];
    };
}

declare_codes! {
    SYNTAX = "E0101", "syntax error";
    UNTERMINATED_STRING = "E0102", "unterminated string";
    UNTERMINATED_COMMENT = "E0103", "unterminated block comment";
    BAD_CHARACTER = "E0104", "character not allowed here";
    UNKNOWN_UNIT = "E0105", "unknown unit";
    BAD_NUMBER = "E0106", "malformed number";
    BAD_ESCAPE = "E0107", "unknown escape in a string";
    UNKNOWN_NAME = "E0201", "unknown name";
    DUPLICATE_NAME = "E0202", "name declared twice";
    DUPLICATE_FIELD = "E0203", "field set twice";
    IMPORT_ESCAPES_ROOT = "E0204", "import leaves the stack's root folder";
    IMPORT_UNREADABLE = "E0205", "imported module cannot be read";
    IMPORT_CYCLE = "E0206", "modules import each other";
    CYCLE = "E0207", "definition depends on itself";
    STACK_COUNT = "E0208", "a root file needs exactly one stack";
    UNKNOWN_KIND = "E0209", "unknown declaration kind";
    UNKNOWN_FIELD = "E0210", "unknown field";
    MISSING_FIELD = "E0211", "required field missing";
    PARAM_VALUE = "E0212", "param has no usable value";
    AMBIGUOUS_NAME = "E0213", "name is both a variant and a param or let of its enum";
    UNKNOWN_TYPE = "E0214", "unknown type";
    DUPLICATE_KEY = "E0215", "duplicate instance key";
    TYPE_MISMATCH = "E0301", "type mismatch";
    UNIT_MISMATCH = "E0302", "units do not match";
    WRONG_KIND = "E0303", "reference to the wrong kind of declaration";
    SECRET_MISUSE = "E0304", "secret used where it could leak";
    UNKNOWN_VARIANT = "E0305", "unknown enum variant";
    UNKNOWN_SIGNAL = "E0306", "unknown run-time signal";
    BAD_OPERATION = "E0307", "operation not defined for these values";
    BAD_CALL = "E0308", "wrong arguments to a built-in function";
    NOT_FOUND = "E0309", "index or key not found";
    ARITHMETIC = "E0310", "arithmetic error";
    CONSTRAINT = "E0401", "constraint not met";
    ASSERT_FAILED = "E0402", "assertion failed";
    MODEL_DOES_NOT_FIT = "E0403", "model does not fit its GPUs";
    TENSOR_PARALLEL = "E0404", "tensor parallelism does not match the pool";
    ROLLOUT = "E0405", "rollout never completes or splits wrongly";
    RPO_UNMET = "E0406", "disaster-recovery target cannot meet its RPO";
    DR_REGIONS = "E0407", "disaster-recovery regions are the same";
    BUDGET_EXCEEDED = "E0408", "worst-case cost exceeds the budget";
    POLICY_RULE = "E0409", "storage the outputs cannot use there";
    NO_INSTANCE = "E0410", "no instance type offers this GPU shape";
    SHARING = "E0411", "GPU sharing not supported";
    BATCH_BELOW_MAX = "W0401", "fewer full-context sequences fit than max_batch";
    EXPECTED_COST = "W0402", "expected cost passes the first budget alert";
    POLICY_ADVICE = "W0403", "built-in policy advice (retired: now AIS104, AIS105)";
    RPO_NOT_ENFORCED = "W0404", "RPO not enforced for a cold or archive tier";
    UNUSED = "W0405", "declared but never used";
    POOL_TOO_SMALL = "W0406", "pool too small for its services at maximum replicas";
    AUTOSCALE_SHAPE = "E0412", "autoscale condition cannot drive an autoscaler";
    ARTIFACT_STORE = "E0413", "model or data set is not in S3 storage";
    TEMPLATE = "E0501", "user template cannot be rendered";
    OUTPUT_CLASH = "E0502", "two declarations produce the same output file";
    IRSA_ACCOUNT = "E0420", "IRSA needs the stack's AWS account";
    OUT_OF_RANGE = "E0311", "number out of range for its field";
    NEGATIVE_QUANTITY = "E0312", "negative duration, size or money";
    VALUE_TOO_LARGE = "E0313", "value too large";
    EVAL_BUDGET = "E0314", "evaluation budget exceeded";
    ENGINE_ARG_UNKNOWN = "E0425", "unknown engine argument";
    ENGINE_ARG_TYPE = "E0426", "engine argument has the wrong type";
    ENGINE_ARG_RESERVED = "E0427", "engine argument is set from the stack";
    ENGINE_ARGS_ENGINE = "E0428", "engine arguments on an engine that does not read them";
    ZONE_REGION = "E0430", "pool zone outside the stack's region";
    SCALE_FROM_ZERO = "E0431", "autoscaling from zero replicas on a signal only pods export";
    ENGINE_SIGNAL = "E0432", "signal the service's engine does not export";
    TRAINING_DOES_NOT_FIT = "E0433", "training job does not fit its GPUs";
    TRAINING_DEFAULT_MAY_NOT_FIT = "W0420", "training job does not fit its GPUs with the default method";
    SUPPRESSION_REASON = "E0440", "suppression without a reason";
    SUPPRESSION_RULE = "E0441", "suppression names no suppressible rule";
    UNUSED_SUPPRESSION = "W0440", "suppression matches no finding";
    STATE_LOCKED = "E0601", "state is locked by another writer";
    STATE_TOO_NEW = "E0602", "state was written by a newer aistack";
    STATE_UNREADABLE = "E0603", "state cannot be read";
    STATE_WRITE = "E0604", "state cannot be written";
    STATE_CONFLICT = "E0605", "state changed since it was read";
    UNLOCK_WRONG_ID = "E0606", "force-unlock id is not the holder's";
    UNLOCK_NOT_LOCKED = "E0607", "force-unlock on a state that is not locked";
    STATE_LOCATION = "E0608", "state location not understood";
    STATE_NO_ADDRESS = "E0609", "no resource at this address in the state";
    STATE_BACKEND = "E0610", "state backend call failed";
    RELEASE_WRITE = "E0611", "release cannot be written";
    STATE_STACK = "E0612", "state belongs to another stack";
    PLAN_STALE = "E0640", "saved plan is stale";
    PLAN_FOREIGN = "E0641", "saved plan belongs to another state";
    PLAN_UNREADABLE = "E0642", "saved plan cannot be read";
    ROLLBACK_TARGET = "E0643", "no revision to roll back to";
    IMAGE_REFERENCE = "E0620", "malformed image reference";
    IMAGE_NOT_FOUND = "E0621", "image not found in its registry";
    REGISTRY_AUTH = "E0622", "registry needs credentials for the image";
    REGISTRY_UNREACHABLE = "E0623", "registry unreachable, or its answer unusable";
    ARTIFACT_MISSING = "E0624", "model or data set artifact missing";
    ARTIFACT_DIGEST = "E0625", "artifact does not match its digest";
    ARTIFACT_FILES = "E0626", "artifact's files differ from its manifest";
    ARTIFACT_UNREADABLE = "E0627", "artifact store cannot be read";
}

/// The entry for `code` (case-insensitive), if it exists.
pub fn lookup(code: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    ALL.iter().find(|(c, _, _)| c.eq_ignore_ascii_case(code))
}
