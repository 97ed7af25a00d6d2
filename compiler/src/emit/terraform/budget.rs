//! `budget_<ident>.tf`: a monthly AWS cost budget.
//!
//! Takes: a budget (monthly limit in dollars, alert ratios, email addresses). Gives: an
//! `aws_budgets_budget` (COST, MONTHLY, USD) scoped to the stack by a `TagKeyValue` cost
//! filter on the `aistack-stack` tag every resource carries (the provider's default tags;
//! Karpenter's EC2NodeClass tags its nodes the same), with one ACTUAL-spend notification
//! per alert ratio and a FORECASTED one at the highest ratio, sent to every address. The
//! filter matches only once `aistack-stack` is activated as a cost allocation tag in the
//! billing console (or `aws_ce_cost_allocation_tag`); until then the budget reads $0.

use super::ctx::{io_name, output, resource, tags, Ctx, TfFile};
use crate::emit::hcl::{Block, Expr};
use crate::ir::Budget;

/// The limit as AWS Budgets writes it: whole dollars, or dollars and cents.
pub fn amount(dollars: f64) -> String {
    let cents = (dollars * 100.0).round() / 100.0;
    if cents.fract() == 0.0 {
        format!("{cents:.0}")
    } else {
        format!("{cents:.2}")
    }
}

/// An alert ratio as a percentage threshold (0.8 → 80, 0.125 → 12.5).
pub fn threshold(ratio: f64) -> f64 {
    (ratio * 100.0 * 1000.0).round() / 1000.0
}

/// The tag every resource of the stack carries (provider default tags, Karpenter node tags).
pub const STACK_TAG: &str = "aistack-stack";

/// The `TagKeyValue` cost filter value selecting the stack's resources.
pub fn tag_filter(stack: &str) -> String {
    format!("user:{STACK_TAG}${stack}")
}

pub fn file(ctx: &Ctx, b: &Budget) -> TfFile {
    let addr = b.meta.full_address();
    let id = &b.meta.ident;
    let limit = amount(b.limit_per_month);
    let mut f = TfFile::new(
        &format!("budget_{id}.tf"),
        &format!("{addr}: monthly cost budget of ${limit} for the resources tagged {STACK_TAG} = {}, alerting on actual and forecast spend.", ctx.s.name),
        vec![addr.clone()],
    );
    let mut r = resource("aws_budgets_budget", id, &None);
    if b.notify.is_empty() {
        r = r.comment(&format!("{addr} names no one to notify: the budget is tracked without alerts."));
    }
    r = r
        .attr("name", Expr::str(ctx.name(&[&b.meta.name], 100)))
        .attr("budget_type", Expr::str("COST"))
        .attr("limit_amount", Expr::str(&limit))
        .attr("limit_unit", Expr::str("USD"))
        .attr("time_unit", Expr::str("MONTHLY"))
        // User-defined cost allocation tags are written `user:<key>$<value>`.
        .block(
            Block::new("cost_filter", &[])
                .attr("name", Expr::str("TagKeyValue"))
                .attr("values", Expr::strs([tag_filter(&ctx.s.name)])),
        );
    if !b.notify.is_empty() {
        let notify = |r: Block, ratio: f64, kind: &str| {
            r.block(
                Block::new("notification", &[])
                    .attr("comparison_operator", Expr::str("GREATER_THAN"))
                    .attr("threshold", Expr::Num(threshold(ratio)))
                    .attr("threshold_type", Expr::str("PERCENTAGE"))
                    .attr("notification_type", Expr::str(kind))
                    .attr("subscriber_email_addresses", Expr::strs(b.notify.iter().cloned())),
            )
        };
        for ratio in &b.alerts {
            r = notify(r, *ratio, "ACTUAL");
        }
        // Forecast: warned before the month ends over the last alert (or the limit).
        let top = b.alerts.iter().copied().fold(f64::NAN, f64::max);
        r = notify(r, if top.is_nan() { 1.0 } else { top }, "FORECASTED");
    }
    f.blocks.push(r.attr("tags", tags(&addr)));
    f.outputs.push(output(
        &io_name(&b.meta, "name"),
        &format!("AWS budget of {addr}"),
        Expr::tf("aws_budgets_budget", id, "name"),
    ));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_thresholds() {
        assert_eq!(amount(12_000.0), "12000");
        assert_eq!(amount(8_000.004), "8000");
        assert_eq!(amount(99.5), "99.50");
        assert_eq!(threshold(0.8), 80.0);
        assert_eq!(threshold(0.125), 12.5);
        assert_eq!(threshold(0.15), 15.0);
        assert_eq!(tag_filter("llm-chat"), "user:aistack-stack$llm-chat");
    }
}
