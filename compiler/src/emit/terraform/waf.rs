//! `waf_<ident>.tf` for public services with a rate limit, and the web ACL builder the CDN
//! files share.
//!
//! Takes: services whose `expose = public` and whose guard sets `rate_limit` (requests per
//! second per client). Gives: a REGIONAL WAFv2 web ACL with a per-IP rate-based rule (the
//! rate times a 60 s evaluation window, at least WAF's minimum of 10), the AWS managed rule
//! groups for known bad inputs (Log4j and friends) and IP reputation, logging to a
//! KMS-encrypted CloudWatch log group with the Authorization header redacted, and an
//! association with the service's load balancer once its ARN is supplied.

use super::ctx::{fit, io_name, output, raw, resource, tags, variable, Ctx, TfFile};
use crate::emit::hcl::{Block, Expr};
use crate::ir::Service;

/// Evaluation window of rate-based rules, seconds (WAF allows 60, 120, 300 and 600).
pub const WINDOW_S: u64 = 60;
/// WAF's smallest rate-based limit.
pub const MIN_LIMIT: i64 = 10;
const MAX_LIMIT: f64 = 2_000_000_000.0;
/// Days WAF logs are kept.
const LOG_DAYS: i64 = 365;

/// Public services with a rate limit get a web ACL.
pub fn needs_acl(svc: &Service) -> bool {
    svc.public && svc.guard.rate_limit.is_some()
}

/// Requests per `window_s` seconds for a limit of `per_second` requests per second.
pub fn rate_limit(per_second: f64, window_s: u64) -> i64 {
    let n = (per_second * window_s as f64).ceil();
    if n.is_nan() {
        return MIN_LIMIT;
    }
    n.clamp(MIN_LIMIT as f64, MAX_LIMIT) as i64
}

/// A web ACL with its log group and logging configuration.
pub struct Acl {
    /// Terraform name of the ACL (the log group gets `<tf>_waf`).
    pub tf: String,
    /// AWS name (also the log group suffix and metric prefix).
    pub name: String,
    pub description: String,
    /// `REGIONAL` or `CLOUDFRONT`.
    pub scope: &'static str,
    pub provider: Option<Expr>,
    pub declaration: String,
    /// (limit per window, window seconds, comment).
    pub rate: Option<(i64, u64, String)>,
    /// Add AWSManagedRulesCommonRuleSet (not in front of LLM APIs: its 8 KB body limit
    /// blocks long prompts) and AWSManagedRulesAnonymousIpList (Tor, anonymising proxies;
    /// hosting-provider addresses are only counted, since clients on EC2 download from CDNs).
    pub edge_rules: bool,
    /// KMS key of the log group's region.
    pub key: Expr,
}

fn visibility(metric: &str) -> Block {
    Block::new("visibility_config", &[])
        .attr("cloudwatch_metrics_enabled", Expr::Bool(true))
        .attr("metric_name", Expr::str(fit(metric, 128)))
        .attr("sampled_requests_enabled", Expr::Bool(true))
}

/// A managed rule group; rules named in `count_only` only count matches.
fn managed(name: &str, priority: i64, acl: &str, count_only: &[&str]) -> Block {
    let mut statement = Block::new("managed_rule_group_statement", &[])
        .attr("name", Expr::str(name))
        .attr("vendor_name", Expr::str("AWS"));
    for rule in count_only {
        statement = statement.block(
            Block::new("rule_action_override", &[])
                .attr("name", Expr::str(*rule))
                .block(Block::new("action_to_use", &[]).block(Block::new("count", &[]))),
        );
    }
    Block::new("rule", &[])
        .attr("name", Expr::str(name))
        .attr("priority", Expr::Int(priority))
        .block(Block::new("override_action", &[]).block(Block::new("none", &[])))
        .block(Block::new("statement", &[]).block(statement))
        .block(visibility(&format!("{acl}-{name}")))
}

impl Acl {
    pub fn blocks(&self) -> Vec<Block> {
        let mut acl = resource("aws_wafv2_web_acl", &self.tf, &self.provider)
            .attr("name", Expr::str(&self.name))
            .attr("description", Expr::str(fit(&self.description, 256)))
            .attr("scope", Expr::str(self.scope))
            .block(Block::new("default_action", &[]).block(Block::new("allow", &[])));
        let mut priority = 0;
        if let Some((limit, window, note)) = &self.rate {
            acl = acl.block(
                Block::new("rule", &[])
                    .comment(note)
                    .attr("name", Expr::str("rate-limit-per-client"))
                    .attr("priority", Expr::Int(priority))
                    .block(
                        Block::new("action", &[]).block(
                            Block::new("block", &[])
                                .block(Block::new("custom_response", &[]).attr("response_code", Expr::Int(429))),
                        ),
                    )
                    .block(
                        Block::new("statement", &[]).block(
                            Block::new("rate_based_statement", &[])
                                .attr("limit", Expr::Int(*limit))
                                .attr("aggregate_key_type", Expr::str("IP"))
                                .attr("evaluation_window_sec", Expr::Int(*window as i64)),
                        ),
                    )
                    .block(visibility(&format!("{}-rate-limit", self.name))),
            );
            priority += 1;
        }
        let mut groups: Vec<(&str, &[&str])> =
            vec![("AWSManagedRulesKnownBadInputsRuleSet", &[]), ("AWSManagedRulesAmazonIpReputationList", &[])];
        if self.edge_rules {
            groups.push(("AWSManagedRulesAnonymousIpList", &["HostingProviderIPList"]));
            groups.push(("AWSManagedRulesCommonRuleSet", &[]));
        }
        for (g, count_only) in groups {
            acl = acl.block(managed(g, priority, &self.name, count_only));
            priority += 1;
        }
        acl = acl.block(visibility(&self.name)).attr("tags", tags(&self.declaration));

        let group = format!("{}_waf", self.tf);
        let log_group = resource("aws_cloudwatch_log_group", &group, &self.provider)
            .attr("name", Expr::str(format!("aws-waf-logs-{}", fit(&self.name, 480))))
            .attr("retention_in_days", Expr::Int(LOG_DAYS))
            .attr("kms_key_id", self.key.clone())
            .attr("tags", tags(&self.declaration));
        let logging = resource("aws_wafv2_web_acl_logging_configuration", &self.tf, &self.provider)
            .attr("resource_arn", Expr::tf("aws_wafv2_web_acl", &self.tf, "arn"))
            .attr("log_destination_configs", Expr::List(vec![Expr::tf("aws_cloudwatch_log_group", &group, "arn")]))
            .block(
                Block::new("redacted_fields", &[])
                    .block(Block::new("single_header", &[]).attr("name", Expr::str("authorization"))),
            );
        vec![acl, log_group, logging]
    }
}

pub fn file(ctx: &Ctx, svc: &Service) -> Option<TfFile> {
    let per_second = svc.guard.rate_limit.filter(|_| needs_acl(svc))?;
    let s = ctx.s;
    let addr = svc.meta.full_address();
    let id = &svc.meta.ident;
    let limit = rate_limit(per_second, WINDOW_S);
    let rate = format!("{per_second}");
    let var = io_name(&svc.meta, "load_balancer_arn");
    let mut f = TfFile::new(
        &format!("waf_{id}.tf"),
        &format!(
            "{addr}: WAF web ACL (REGIONAL) for its public endpoint: each client IP may send {rate} requests/s\n({limit} per {WINDOW_S} s window), plus AWS managed rules. Attach it to the service's load balancer\n(set var.{var}, or annotate the ingress with the ACL ARN output)."
        ),
        vec![addr.clone()],
    );
    let note = if limit as f64 > (per_second * WINDOW_S as f64).ceil() {
        format!(
            "{rate} requests/s per client is below WAF's minimum of {MIN_LIMIT} per window: the limit is {MIN_LIMIT}."
        )
    } else {
        format!("{rate} requests/s per client over a {WINDOW_S} s window.")
    };
    let acl = Acl {
        tf: id.clone(),
        name: ctx.name(&[&svc.meta.name], 128),
        description: format!("aistack {}: {addr}", s.name),
        scope: "REGIONAL",
        provider: None,
        declaration: addr.clone(),
        rate: Some((limit, WINDOW_S, note)),
        edge_rules: false,
        key: ctx.key_arn(&s.region),
    };
    f.blocks = acl.blocks();
    f.blocks.push(
        resource("aws_wafv2_web_acl_association", id, &None)
            .attr("count", raw(format!("var.{var} == null ? 0 : 1")))
            .attr("resource_arn", Expr::var(&var))
            .attr("web_acl_arn", Expr::tf("aws_wafv2_web_acl", id, "arn")),
    );
    f.variables.push(
        variable(
            &var,
            "string",
            &format!(
                "ARN of the load balancer in front of {addr} (created by the AWS Load Balancer Controller); leave null to attach the web ACL through the ingress annotation instead."
            ),
        )
        .attr("default", Expr::Null),
    );
    f.outputs.push(output(
        &io_name(&svc.meta, "web_acl_arn"),
        &format!("WAF web ACL of {addr}"),
        Expr::tf("aws_wafv2_web_acl", id, "arn"),
    ));
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_is_per_window_with_a_floor() {
        assert_eq!(rate_limit(20.0, 60), 1200);
        assert_eq!(rate_limit(50.0, 300), 15000);
        assert_eq!(rate_limit(0.1, 60), 10);
        assert_eq!(rate_limit(0.25, 60), 15);
        assert_eq!(rate_limit(1e12, 600), 2_000_000_000);
    }
}
