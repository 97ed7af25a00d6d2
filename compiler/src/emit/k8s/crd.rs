//! Typed custom resources: the fields aistack sets on Argo Rollouts, KEDA, Karpenter,
//! prometheus-operator, Kueue and Gateway API objects.
//!
//! Takes: values from the emitters. Gives: `serde` structs whose field names and nesting
//! follow the upstream CRDs (`../shared/schemas/`, validated in CI), with optional fields
//! left out when unset. Pod templates reuse k8s-openapi's core types.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::Serialize;
use std::collections::BTreeMap;

/// A custom resource: apiVersion, kind, metadata and spec.
#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Object<S> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: S,
}

// ---------------------------------------------------------------- Argo Rollouts

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    pub replicas: i32,
    pub revision_history_limit: i32,
    pub progress_deadline_seconds: i32,
    pub selector: LabelSelector,
    pub template: PodTemplateSpec,
    pub strategy: RolloutStrategy,
}

#[derive(Serialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStrategy>,
}

#[derive(Serialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// Services Argo Rollouts points at the canary and the stable pods.
    pub canary_service: String,
    pub stable_service: String,
    pub steps: Vec<CanaryStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysis>,
    pub max_surge: i32,
    pub max_unavailable: i32,
}

#[derive(Serialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_weight: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Pause {
    pub duration: String,
}

#[derive(Serialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    pub templates: Vec<TemplateRef>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRef {
    pub template_name: String,
}

#[derive(Serialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    pub active_service: String,
    pub preview_service: String,
    pub auto_promotion_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<RolloutAnalysis>,
    pub scale_down_delay_seconds: i32,
}

#[derive(Serialize, Clone, Debug)]
pub struct AnalysisTemplateSpec {
    pub metrics: Vec<AnalysisMetric>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisMetric {
    pub name: String,
    pub interval: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_condition: Option<String>,
    pub failure_limit: i32,
    pub provider: MetricProvider,
}

#[derive(Serialize, Clone, Debug)]
pub struct MetricProvider {
    pub prometheus: PrometheusMetric,
}

#[derive(Serialize, Clone, Debug)]
pub struct PrometheusMetric {
    pub address: String,
    pub query: String,
}

// ---------------------------------------------------------------- KEDA

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObjectSpec {
    pub scale_target_ref: ScaleTargetRef,
    pub polling_interval: i32,
    pub cooldown_period: i32,
    pub min_replica_count: i32,
    pub max_replica_count: i32,
    pub triggers: Vec<ScaleTrigger>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTrigger {
    #[serde(rename = "type")]
    pub type_: String,
    pub name: String,
    pub metric_type: String,
    pub metadata: BTreeMap<String, String>,
}

// ---------------------------------------------------------------- Karpenter

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolSpec {
    pub template: NodeClaimTemplate,
    pub disruption: Disruption,
    pub limits: BTreeMap<String, String>,
}

#[derive(Serialize, Clone, Debug)]
pub struct NodeClaimTemplate {
    pub metadata: NodeClaimMeta,
    pub spec: NodeClaimSpec,
}

#[derive(Serialize, Clone, Debug)]
pub struct NodeClaimMeta {
    pub labels: BTreeMap<String, String>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimSpec {
    pub node_class_ref: NodeClassRef,
    pub requirements: Vec<Requirement>,
    pub taints: Vec<Taint>,
    pub expire_after: String,
    pub termination_grace_period: String,
}

#[derive(Serialize, Clone, Debug)]
pub struct NodeClassRef {
    pub group: String,
    pub kind: String,
    pub name: String,
}

#[derive(Serialize, Clone, Debug)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    pub values: Vec<String>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Taint {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Disruption {
    pub consolidation_policy: String,
    pub consolidate_after: String,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Ec2NodeClassSpec {
    pub ami_selector_terms: Vec<BTreeMap<String, String>>,
    pub role: String,
    pub subnet_selector_terms: Vec<SelectorTerm>,
    pub security_group_selector_terms: Vec<SelectorTerm>,
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_store_policy: Option<String>,
    pub metadata_options: MetadataOptions,
    pub tags: BTreeMap<String, String>,
}

#[derive(Serialize, Clone, Debug)]
pub struct SelectorTerm {
    pub tags: BTreeMap<String, String>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct BlockDeviceMapping {
    pub device_name: String,
    pub ebs: Ebs,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Ebs {
    pub volume_size: String,
    pub volume_type: String,
    pub encrypted: bool,
    pub delete_on_termination: bool,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct MetadataOptions {
    pub http_endpoint: String,
    pub http_protocol_i_pv6: String,
    pub http_put_response_hop_limit: i32,
    pub http_tokens: String,
}

// ---------------------------------------------------------------- prometheus-operator

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    pub selector: LabelSelector,
    pub endpoints: Vec<MonitorEndpoint>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct MonitorEndpoint {
    pub port: String,
    pub path: String,
    pub interval: String,
}

#[derive(Serialize, Clone, Debug)]
pub struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

#[derive(Serialize, Clone, Debug)]
pub struct RuleGroup {
    pub name: String,
    pub rules: Vec<Rule>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Rule {
    pub alert: String,
    pub expr: String,
    #[serde(rename = "for")]
    pub for_: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

// ---------------------------------------------------------------- Kueue

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ResourceFlavorSpec {
    pub node_labels: BTreeMap<String, String>,
    pub tolerations: Vec<k8s_openapi::api::core::v1::Toleration>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ClusterQueueSpec {
    pub namespace_selector: LabelSelector,
    pub queueing_strategy: String,
    pub resource_groups: Vec<ResourceGroup>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    pub covered_resources: Vec<String>,
    pub flavors: Vec<FlavorQuotas>,
}

#[derive(Serialize, Clone, Debug)]
pub struct FlavorQuotas {
    pub name: String,
    pub resources: Vec<FlavorResource>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct FlavorResource {
    pub name: String,
    pub nominal_quota: String,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct LocalQueueSpec {
    pub cluster_queue: String,
}

// ---------------------------------------------------------------- Gateway API

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    pub parent_refs: Vec<ParentRef>,
    pub rules: Vec<HttpRouteRule>,
}

#[derive(Serialize, Clone, Debug)]
pub struct ParentRef {
    pub name: String,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRule {
    pub backend_refs: Vec<BackendRef>,
}

#[derive(Serialize, Clone, Debug)]
pub struct BackendRef {
    pub name: String,
    pub port: i32,
    pub weight: i32,
}
