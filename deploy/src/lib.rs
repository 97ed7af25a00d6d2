//! Deploy: what happens after `build` — state, preflight, plan, apply and rollback.
//!
//! Takes: a checked stack (and, later, its resource graph). Gives: [`state`] (the versioned
//! state document, its backends and the one-writer lock), [`apply`] (the built-in default:
//! render a release into `.aistack/releases/<n>/` with an Argo CD `Application` and record it)
//! [`plan`] (the desired resources against the recorded state; a saved plan refused once
//! stale), and [`preflight`] (the checks only an AI-aware tool makes before any change: model
//! artifacts and their digests, image tags to digests). Operational failures are one error
//! type, [`error::OpError`], with stable codes (E06xx); [`error::render`] prints one.

pub mod apply;
pub mod error;
pub mod plan;
pub mod preflight;
pub mod state;
