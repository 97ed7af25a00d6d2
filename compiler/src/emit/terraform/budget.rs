//! `budget_<ident>.tf`: a monthly AWS cost budget.
//!
//! Takes: a budget (monthly limit in dollars, alert ratios, email addresses). Gives: an
//! `aws_budgets_budget` (COST, MONTHLY, USD) with one ACTUAL-spend notification per alert
//! ratio, sent to every address. The budget covers the account's whole spend: GPU nodes are
//! launched outside Terraform and only a cost allocation tag could narrow it to the stack.

use super::ctx::{io_name, output, raw, resource, tags, Ctx, TfFile};
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

pub fn file(ctx: &Ctx, b: &Budget) -> TfFile {
    let addr = b.meta.full_address();
    let id = &b.meta.ident;
    let limit = amount(b.limit_per_month);
    let mut f = TfFile::new(
        &format!("budget_{id}.tf"),
        &format!("{addr}: monthly cost budget of ${limit} with alerts at actual spend."),
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
        .attr("time_unit", Expr::str("MONTHLY"));
    if !b.notify.is_empty() {
        for ratio in &b.alerts {
            r = r.block(
                Block::new("notification", &[])
                    .attr("comparison_operator", Expr::str("GREATER_THAN"))
                    .attr("threshold", Expr::Num(threshold(*ratio)))
                    .attr("threshold_type", Expr::str("PERCENTAGE"))
                    .attr("notification_type", Expr::str("ACTUAL"))
                    .attr("subscriber_email_addresses", Expr::strs(b.notify.iter().cloned())),
            );
        }
    }
    f.blocks.push(r.attr("tags", tags(&addr)));
    f.outputs.push(output(
        &io_name(&b.meta, "name"),
        &format!("AWS budget of {addr}"),
        raw(format!("aws_budgets_budget.{id}.name")),
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
    }
}
