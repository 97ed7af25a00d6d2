//! The evaluation budget: limits that keep checking bounded on hostile input.
//!
//! Takes: values about to be built and the checker's step count. Gives: the limits and
//! [`weight`], the deep size of a value. Every value the checker builds is at most
//! [`MAX_ELEMENTS`] nodes deep-counted (a list holding the same list twice counts it twice,
//! because every later walk — conformance, comparison, lowering — visits it twice), every
//! string at most [`MAX_STRING`] bytes, and one check runs at most [`MAX_STEPS`] steps
//! (expression evaluations, the nodes that conformance, comparison and size checks walk,
//! and [`INSTANCE_STEPS`] for each instance of a `for` declaration). Crossing a limit is a located E0313 or E0314, never an allocation failure or a hang.

use super::value::{Cond, Value};

/// Nodes (scalars, lists, map entries, record fields, condition terms) in one value.
pub const MAX_ELEMENTS: u64 = 1_000_000;
/// Bytes in one string.
pub const MAX_STRING: usize = 16 * 1024 * 1024;
/// Evaluation steps in one check.
pub const MAX_STEPS: u64 = 10_000_000;
/// Steps charged for each instance of a `for` declaration (so at most 20,000 of them).
pub const INSTANCE_STEPS: u64 = 500;
/// Characters of a value shown in a diagnostic message.
pub const SHOW_LIMIT: usize = 1000;

enum Node<'a> {
    V(&'a Value),
    C(&'a Cond),
}

/// The deep size of `v` in nodes, counting shared parts as often as they occur. Stops
/// counting (and walking) once past `limit`, so it costs at most `limit + 1` nodes.
pub fn weight(v: &Value, limit: u64) -> u64 {
    let mut n = 0u64;
    let mut stack = vec![Node::V(v)];
    while let Some(node) = stack.pop() {
        n += 1;
        if n > limit {
            return n;
        }
        match node {
            Node::V(v) => match v {
                Value::List(xs) => stack.extend(xs.iter().map(Node::V)),
                Value::Map(m) => stack.extend(m.values().map(Node::V)),
                Value::Record(r) | Value::Enum(_, _, Some(r)) => {
                    stack.extend(r.fields.values().map(|f| Node::V(&f.value)))
                }
                Value::Range(r) => {
                    stack.push(Node::V(&r.0));
                    stack.push(Node::V(&r.1));
                }
                Value::Cond(c, _) => stack.push(Node::C(c)),
                _ => {}
            },
            Node::C(c) => match c {
                Cond::Signal { .. } => {}
                Cond::Const(v) => stack.push(Node::V(v)),
                Cond::Binary(_, a, b) => {
                    stack.push(Node::C(a));
                    stack.push(Node::C(b));
                }
                Cond::Not(a) | Cond::Neg(a) => stack.push(Node::C(a)),
            },
        }
    }
    n
}

/// Whether computing the weight of `v` can give more than 1 (it holds other values).
pub fn is_compound(v: &Value) -> bool {
    matches!(
        v,
        Value::List(_)
            | Value::Map(_)
            | Value::Record(_)
            | Value::Enum(_, _, Some(_))
            | Value::Range(_)
            | Value::Cond(..)
    )
}
