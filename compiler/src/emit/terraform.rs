//! terraform (in progress)
pub fn emit(_: &crate::ir::Stack, _: &mut Vec<super::Artifact>, _: &mut Vec<crate::diag::Diagnostic>) {}
