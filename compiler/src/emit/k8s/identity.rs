//! Workload identity and secrets on the Kubernetes side.
//!
//! Takes: the IR and its [`access::workloads`](crate::emit::access::workloads). Gives: for each
//! workload a ServiceAccount (annotated with its IAM role's ARN under IRSA; under EKS Pod
//! Identity the association lives in Terraform and the account needs nothing), and for each
//! workload given secret params an External Secrets `ExternalSecret` that creates the Secret
//! its pods' `secretKeyRef`s name, from the AWS Secrets Manager secrets Terraform declares.
//!
//! The store is a namespaced `SecretStore`, never a `ClusterSecretStore`: a cluster store can
//! be referenced from every namespace, so any tenant could pull this stack's secrets through
//! it. Under Pod Identity there is one store per stack using the External Secrets
//! controller's own credentials (Terraform grants its role exactly this stack's secrets); under
//! IRSA one store per workload authenticates as the workload's service account (ESO requests
//! a token for it and assumes the workload's role), so each workload reads only its own.
//! Also: the NetworkPolicy egress rule that the Pod Identity agent needs.

use super::crd::Object;
use super::{object_meta, Obj};
use crate::emit::access::{self, Workload};
use crate::ir::Stack;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use std::collections::BTreeMap;

/// The EKS Pod Identity agent's link-local addresses (IPv4 and IPv6 clusters).
pub const POD_IDENTITY_AGENT: [&str; 2] = ["169.254.170.23/32", "fd00:ec2::23/128"];

/// The partition of a region: `aws`, `aws-us-gov` or `aws-cn`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("cn-") {
        "aws-cn"
    } else {
        "aws"
    }
}

/// Name of a Secrets Manager secret holding secret param `param`.
pub fn secret_id(stack: &Stack, param: &str) -> String {
    format!("aistack/{}/{param}", crate::ir::lower::dns_name(&stack.name))
}

/// The per-stack store (Pod Identity) or the workload's own store (IRSA).
pub fn store_name(stack: &Stack, w: &Workload) -> String {
    if stack.irsa {
        format!("{}-aws", w.name)
    } else {
        format!("{}-aws-secrets", crate::ir::lower::dns_name(&stack.name))
    }
}

/// Egress to the Pod Identity agent on port 80 (empty under IRSA, which uses STS over 443).
pub fn agent_egress(stack: &Stack) -> Option<NetworkPolicyEgressRule> {
    (!stack.irsa).then(|| NetworkPolicyEgressRule {
        to: Some(
            POD_IDENTITY_AGENT
                .iter()
                .map(|c| NetworkPolicyPeer {
                    ip_block: Some(IPBlock { cidr: c.to_string(), except: None }),
                    ..Default::default()
                })
                .collect(),
        ),
        ports: Some(vec![NetworkPolicyPort {
            port: Some(IntOrString::Int(80)),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
    })
}

#[derive(Serialize)]
struct StoreSpec {
    provider: StoreProvider,
}

#[derive(Serialize)]
struct StoreProvider {
    aws: AwsProvider,
}

#[derive(Serialize)]
struct AwsProvider {
    service: &'static str,
    region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AwsAuth>,
}

#[derive(Serialize)]
struct AwsAuth {
    jwt: JwtAuth,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JwtAuth {
    service_account_ref: NameRef,
}

#[derive(Serialize)]
struct NameRef {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalSecretSpec {
    refresh_interval: &'static str,
    secret_store_ref: StoreRef,
    target: Target,
    data: Vec<SecretData>,
}

#[derive(Serialize)]
struct StoreRef {
    kind: &'static str,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    name: String,
    creation_policy: &'static str,
    deletion_policy: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretData {
    secret_key: String,
    remote_ref: RemoteRef,
}

#[derive(Serialize)]
struct RemoteRef {
    key: String,
}

fn meta_of(stack: &Stack, w: &Workload, name: &str) -> ObjectMeta {
    object_meta(stack, &w.meta, name)
}

fn service_account(stack: &Stack, w: &Workload) -> Obj {
    let mut metadata = meta_of(stack, w, &w.name);
    if let (true, Some(account)) = (stack.irsa, &stack.account) {
        let arn = format!("arn:{}:iam::{account}:role/{}", partition(&stack.region), access::role_name(stack, w));
        metadata.annotations.get_or_insert_with(BTreeMap::new).insert("eks.amazonaws.com/role-arn".into(), arn);
    }
    // The identity webhooks project their own token volume, so no API token is mounted.
    let sa = ServiceAccount { metadata, automount_service_account_token: Some(false), ..Default::default() };
    Obj::new("ServiceAccount", &w.name, &sa, w.sources.clone())
}

fn store(stack: &Stack, w: &Workload) -> Obj {
    let name = store_name(stack, w);
    let auth = stack.irsa.then(|| AwsAuth { jwt: JwtAuth { service_account_ref: NameRef { name: w.name.clone() } } });
    let metadata =
        if stack.irsa { meta_of(stack, w, &name) } else { object_meta(stack, &super::stack_meta(stack), &name) };
    let s = Object {
        api_version: "external-secrets.io/v1",
        kind: "SecretStore",
        metadata,
        spec: StoreSpec {
            provider: StoreProvider {
                aws: AwsProvider { service: "SecretsManager", region: stack.region.clone(), auth },
            },
        },
    };
    let sources = if stack.irsa { w.sources.clone() } else { vec![format!("stack.{}", stack.name)] };
    Obj::new("SecretStore", &name, &s, sources)
}

fn external_secret(stack: &Stack, w: &Workload) -> Obj {
    let name = w.secret_name();
    let e = Object {
        api_version: "external-secrets.io/v1",
        kind: "ExternalSecret",
        metadata: meta_of(stack, w, &name),
        spec: ExternalSecretSpec {
            refresh_interval: "1h",
            secret_store_ref: StoreRef { kind: "SecretStore", name: store_name(stack, w) },
            target: Target { name: name.clone(), creation_policy: "Owner", deletion_policy: "Retain" },
            data: w
                .secrets
                .iter()
                .map(|p| SecretData { secret_key: p.clone(), remote_ref: RemoteRef { key: secret_id(stack, p) } })
                .collect(),
        },
    };
    Obj::new("ExternalSecret", &name, &e, w.sources.clone())
}

pub fn emit(stack: &Stack, objs: &mut Vec<Obj>) {
    let workloads = access::workloads(stack);
    for w in &workloads {
        objs.push(service_account(stack, w));
        if !w.secrets.is_empty() {
            objs.push(store(stack, w));
            objs.push(external_secret(stack, w));
        }
    }
}
