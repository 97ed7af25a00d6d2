//! `pool_<ident>.tf`: an EKS managed node group per GPU pool, when the stack's
//! `node_provisioner = node_group` (otherwise Karpenter, on the Kubernetes side, owns nodes).
//!
//! Takes: a gpu_pool (instance type from the catalog, node range, capacity, zones, sharing).
//! Gives: `aws_eks_node_group` on the NVIDIA AL2023 AMI with the instance type, ON_DEMAND or
//! SPOT capacity, scaling from `nodes` (desired size left to the autoscaler after creation),
//! the `nvidia.com/gpu` NO_SCHEDULE taint (the only one the NVIDIA device plugin and DCGM
//! exporter tolerate by default) and the `aistack.dev/pool=<stack>-<pool>` label (as
//! Karpenter nodes get them; pods tolerate the taint and select the label), the MIG or
//! device-plugin sharing label, subnets of the pool's zones and node auto repair.

use super::ctx::{io_name, output, raw, resource, tags, variable, Ctx, TfFile};
use super::storage::{subnets_variable, SUBNETS_VAR};
use crate::emit::hcl::{Block, Expr};
use crate::ir::{Pool, Sharing};

pub const NODE_ROLE_VAR: &str = "node_role_arn";
/// Root volume, GiB: inference images are 10-20 GB unpacked.
const DISK_GIB: i64 = 100;

pub fn file(ctx: &Ctx, p: &Pool) -> TfFile {
    let s = ctx.s;
    let addr = p.meta.full_address();
    let id = &p.meta.ident;
    let mut f = TfFile::new(
        &format!("pool_{id}.tf"),
        &format!(
            "{addr}: EKS managed node group of {} ({} x {} per node), {}..{} nodes.",
            p.instance, p.gpus_per_node, p.gpu, p.nodes.0, p.nodes.1
        ),
        vec![addr.clone()],
    );
    let subnets = if p.zones.is_empty() {
        Expr::call("values", vec![Expr::var(SUBNETS_VAR)])
    } else {
        Expr::List(p.zones.iter().map(|z| Expr::call("lookup", vec![Expr::var(SUBNETS_VAR), Expr::str(z)])).collect())
    };
    let mut labels = vec![("aistack.dev/pool".to_string(), Expr::str(&p.cluster_name))];
    match &p.sharing {
        Sharing::None => {}
        Sharing::Mig { profile } => labels.push(("nvidia.com/mig.config".into(), Expr::str(format!("all-{profile}")))),
        Sharing::TimeSlicing { .. } => {
            labels.push(("nvidia.com/device-plugin.config".into(), Expr::str(&p.cluster_name)))
        }
    }
    let (min, max) = (p.nodes.0, p.nodes.1.max(p.nodes.0).max(1));
    let mut r = resource("aws_eks_node_group", id, &None);
    if p.efa {
        r = r.comment(&format!(
            "{addr} asks for EFA: add a launch template with EFA interfaces and a cluster placement group."
        ));
    }
    r = r
        .attr("cluster_name", Expr::str(&s.cluster))
        .attr("node_group_name", Expr::str(ctx.name(&[&p.meta.name], 63)))
        .attr("node_role_arn", Expr::var(NODE_ROLE_VAR))
        .attr("subnet_ids", subnets)
        .attr("ami_type", Expr::str("AL2023_x86_64_NVIDIA"))
        .attr("instance_types", Expr::strs([p.instance.clone()]))
        .attr("capacity_type", Expr::str(if p.spot { "SPOT" } else { "ON_DEMAND" }))
        .attr("disk_size", Expr::Int(DISK_GIB))
        .attr("labels", Expr::Object(labels))
        .block(
            Block::new("scaling_config", &[])
                .attr("desired_size", Expr::Int(min as i64))
                .attr("min_size", Expr::Int(min as i64))
                .attr("max_size", Expr::Int(max as i64)),
        )
        .block(Block::new("update_config", &[]).attr("max_unavailable", Expr::Int(1)))
        .block(
            Block::new("taint", &[])
                .attr("key", Expr::str("nvidia.com/gpu"))
                .attr("value", Expr::str("true"))
                .attr("effect", Expr::str("NO_SCHEDULE")),
        )
        .block(Block::new("node_repair_config", &[]).attr("enabled", Expr::Bool(true)))
        .block(
            Block::new("lifecycle", &[])
                .attr("ignore_changes", Expr::List(vec![raw("scaling_config[0].desired_size")])),
        )
        .attr("tags", tags(&addr));
    f.blocks.push(r);
    f.variables.push(subnets_variable());
    f.variables.push(variable(
        NODE_ROLE_VAR,
        "string",
        &format!(
            "ARN of the IAM role GPU nodes of cluster {} run as (AmazonEKSWorkerNodePolicy, AmazonEC2ContainerRegistryReadOnly, AmazonEKS_CNI_Policy).",
            s.cluster
        ),
    ));
    f.outputs.push(output(
        &io_name(&p.meta, "node_group_arn"),
        &format!("EKS node group of {addr}"),
        Expr::tf("aws_eks_node_group", id, "arn"),
    ));
    f
}
