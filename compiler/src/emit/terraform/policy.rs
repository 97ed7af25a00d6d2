//! IAM-style policy documents (bucket, key, topic, file-system and role policies) as HCL.
//!
//! Takes: [`Statement`]s built by the other files. Gives: a `jsonencode({…})` expression with
//! `Version` and `Statement`, written through the typed HCL writer so that every user string
//! stays escaped and `terraform fmt` leaves the layout alone. Conditions that share an
//! operator are merged into one object, as IAM expects.

use crate::emit::hcl::Expr;

/// Who a statement applies to.
#[derive(Clone, Debug)]
pub enum Principal {
    /// `"*"`: only used in `Deny` statements (and the declared public read).
    Any,
    /// An AWS service principal, e.g. `cloudtrail.amazonaws.com`.
    Service(String),
    /// An AWS principal ARN expression.
    Aws(Expr),
}

#[derive(Clone, Debug)]
pub struct Statement {
    sid: String,
    effect: &'static str,
    principal: Option<Principal>,
    actions: Vec<String>,
    resources: Vec<Expr>,
    /// (operator, key, value), in the order added.
    conditions: Vec<(String, String, Expr)>,
}

impl Statement {
    pub fn allow(sid: &str) -> Statement {
        Statement {
            sid: sid.to_string(),
            effect: "Allow",
            principal: None,
            actions: Vec::new(),
            resources: Vec::new(),
            conditions: Vec::new(),
        }
    }
    pub fn deny(sid: &str) -> Statement {
        Statement { effect: "Deny", ..Statement::allow(sid) }
    }
    pub fn principal(mut self, p: Principal) -> Statement {
        self.principal = Some(p);
        self
    }
    pub fn service(self, service: &str) -> Statement {
        self.principal(Principal::Service(service.to_string()))
    }
    pub fn actions(mut self, actions: &[&str]) -> Statement {
        self.actions.extend(actions.iter().map(|a| a.to_string()));
        self
    }
    pub fn resource(mut self, r: Expr) -> Statement {
        self.resources.push(r);
        self
    }
    pub fn condition(mut self, op: &str, key: &str, value: Expr) -> Statement {
        self.conditions.push((op.to_string(), key.to_string(), value));
        self
    }

    fn to_expr(&self) -> Expr {
        let mut kv: Vec<(String, Expr)> =
            vec![("Sid".into(), Expr::str(&self.sid)), ("Effect".into(), Expr::str(self.effect))];
        if let Some(p) = &self.principal {
            let p = match p {
                Principal::Any => Expr::str("*"),
                Principal::Service(s) => Expr::Object(vec![("Service".into(), Expr::str(s))]),
                Principal::Aws(e) => Expr::Object(vec![("AWS".into(), e.clone())]),
            };
            kv.push(("Principal".into(), p));
        }
        kv.push(("Action".into(), one_or_list(self.actions.iter().map(Expr::str).collect())));
        if !self.resources.is_empty() {
            kv.push(("Resource".into(), one_or_list(self.resources.clone())));
        }
        if !self.conditions.is_empty() {
            let mut ops: Vec<(String, Vec<(String, Expr)>)> = Vec::new();
            for (op, key, value) in &self.conditions {
                match ops.iter_mut().find(|(o, _)| o == op) {
                    Some((_, keys)) => keys.push((key.clone(), value.clone())),
                    None => ops.push((op.clone(), vec![(key.clone(), value.clone())])),
                }
            }
            kv.push(("Condition".into(), Expr::Object(ops.into_iter().map(|(o, k)| (o, Expr::Object(k))).collect())));
        }
        Expr::Object(kv)
    }
}

fn one_or_list(mut items: Vec<Expr>) -> Expr {
    if items.len() == 1 {
        items.remove(0)
    } else {
        Expr::List(items)
    }
}

/// `jsonencode({ Version = "2012-10-17", Statement = [...] })`.
pub fn document(statements: &[Statement]) -> Expr {
    Expr::call(
        "jsonencode",
        vec![Expr::Object(vec![
            ("Version".into(), Expr::str("2012-10-17")),
            ("Statement".into(), Expr::List(statements.iter().map(Statement::to_expr).collect())),
        ])],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::hcl::{file, Block};

    #[test]
    fn conditions_with_one_operator_merge() {
        let s = Statement::allow("x")
            .service("logging.s3.amazonaws.com")
            .actions(&["s3:PutObject"])
            .resource(Expr::tf("aws_s3_bucket", "a", "arn"))
            .condition("StringEquals", "aws:SourceAccount", Expr::str("1"))
            .condition("StringEquals", "aws:SourceOrgID", Expr::str("2"));
        let text = file("", &[Block::new("locals", &[]).attr("p", document(&[s]))]);
        assert_eq!(text.matches("StringEquals").count(), 1, "{text}");
        assert!(text.contains("\"aws:SourceAccount\" = \"1\""), "{text}");
        assert!(text.contains("Action   = \"s3:PutObject\""), "{text}");
    }
}
