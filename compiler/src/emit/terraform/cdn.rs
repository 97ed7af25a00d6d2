//! `cdn_<ident>.tf`: a CloudFront distribution in front of a private bucket.
//!
//! Takes: a cdn and its origin storage (and, when a dr replicates that storage, the replica).
//! Gives: origin access control (SigV4, always signed), a distribution that serves HTTPS only
//! with TLS 1.2+ on an ACM certificate supplied as a variable, GET/HEAD only, a cache policy
//! from the declared TTL, security response headers (HSTS and friends), standard logging to
//! the stack's CloudFront log bucket, an origin group that fails over to the replica bucket
//! when there is one, trusted key groups for signed URLs, and a CLOUDFRONT-scope WAF web ACL
//! in us-east-1 with AWS managed rules and logging. The origin bucket's policy and the KMS key
//! policies that let this distribution read are written by `storage_*.tf`, `dr_*.tf` and
//! `kms.tf`.

use super::ctx::{io_name, output, resource, skip, tags, variable, Ctx, TfFile, CLOUDFRONT_REGION};
use super::waf::Acl;
use crate::emit::hcl::{Block, Expr};
use crate::ir::{Backend, Cdn, Encryption};

pub fn file(ctx: &Ctx, cdn: &Cdn) -> Option<TfFile> {
    let s = ctx.s;
    let origin = ctx.storage(cdn.origin).filter(|o| o.backend == Backend::S3)?;
    let addr = cdn.meta.full_address();
    let id = &cdn.meta.ident;
    let origin_addr = origin.meta.full_address();
    let mut f = TfFile::new(
        &format!("cdn_{id}.tf"),
        &format!(
            "{addr}: CloudFront distribution of {origin_addr} through origin access control, HTTPS only,\nwith a CLOUDFRONT-scope WAF web ACL (us-east-1) and standard logging."
        ),
        vec![addr.clone(), origin_addr.clone()],
    );
    let replica = ctx.replicated.get(&cdn.origin).and_then(|d| s.drs.get(*d)).zip(ctx.replicas.get(&cdn.origin));
    if let Some((dr, _)) = replica {
        f.source(dr.meta.full_address());
    }
    let cert_var = io_name(&cdn.meta, "certificate_arn");
    let aliases_var = io_name(&cdn.meta, "aliases");
    let key_var = io_name(&cdn.meta, "signing_public_key");

    f.blocks.push(
        resource("aws_cloudfront_origin_access_control", id, &None)
            .attr("name", Expr::str(ctx.name(&[&cdn.meta.name], 64)))
            .attr("description", Expr::str(format!("aistack {}: {addr} reads {origin_addr}", s.name)))
            .attr("origin_access_control_origin_type", Expr::str("s3"))
            .attr("signing_behavior", Expr::str("always"))
            .attr("signing_protocol", Expr::str("sigv4")),
    );

    let ttl = cdn.ttl_s as i64;
    f.blocks.push(
        resource("aws_cloudfront_cache_policy", id, &None)
            .attr("name", Expr::str(ctx.name(&[&cdn.meta.name, "ttl"], 128)))
            .attr("comment", Expr::str(format!("{addr}: objects stay {} s at the edge", cdn.ttl_s)))
            .attr("min_ttl", Expr::Int(0))
            .attr("default_ttl", Expr::Int(ttl))
            .attr("max_ttl", Expr::Int(ttl))
            .block(
                Block::new("parameters_in_cache_key_and_forwarded_to_origin", &[])
                    .attr("enable_accept_encoding_brotli", Expr::Bool(ttl > 0))
                    .attr("enable_accept_encoding_gzip", Expr::Bool(ttl > 0))
                    .block(Block::new("cookies_config", &[]).attr("cookie_behavior", Expr::str("none")))
                    .block(Block::new("headers_config", &[]).attr("header_behavior", Expr::str("none")))
                    .block(Block::new("query_strings_config", &[]).attr("query_string_behavior", Expr::str("none"))),
            ),
    );

    f.blocks.push(
        resource("aws_cloudfront_response_headers_policy", id, &None)
            .attr("name", Expr::str(ctx.name(&[&cdn.meta.name, "security-headers"], 128)))
            .attr("comment", Expr::str(format!("{addr}: HSTS, no sniffing, no framing")))
            .block(
                Block::new("security_headers_config", &[])
                    .block(
                        Block::new("strict_transport_security", &[])
                            .attr("access_control_max_age_sec", Expr::Int(63_072_000))
                            .attr("include_subdomains", Expr::Bool(true))
                            .attr("preload", Expr::Bool(true))
                            .attr("override", Expr::Bool(true)),
                    )
                    .block(Block::new("content_type_options", &[]).attr("override", Expr::Bool(true)))
                    .block(
                        Block::new("frame_options", &[])
                            .attr("frame_option", Expr::str("DENY"))
                            .attr("override", Expr::Bool(true)),
                    )
                    .block(
                        Block::new("referrer_policy", &[])
                            .attr("referrer_policy", Expr::str("strict-origin-when-cross-origin"))
                            .attr("override", Expr::Bool(true)),
                    ),
            ),
    );

    if cdn.signed_urls {
        f.blocks.push(
            resource("aws_cloudfront_public_key", id, &None)
                .attr("name", Expr::str(ctx.name(&[&cdn.meta.name], 128)))
                .attr("comment", Expr::str(format!("{addr}: verifies signed URLs")))
                .attr("encoded_key", Expr::var(&key_var)),
        );
        f.blocks.push(
            resource("aws_cloudfront_key_group", id, &None)
                .attr("name", Expr::str(ctx.name(&[&cdn.meta.name], 128)))
                .attr("comment", Expr::str(format!("{addr}: keys trusted for signed URLs")))
                .attr("items", Expr::List(vec![Expr::tf("aws_cloudfront_public_key", id, "id")])),
        );
        f.variables.push(variable(
            &key_var,
            "string",
            &format!("PEM-encoded RSA public key that verifies the signed URLs of {addr}; the private key never leaves the signer."),
        ));
    }

    // The web ACL lives in us-east-1 whatever the stack's region.
    let cf_provider = ctx.provider(CLOUDFRONT_REGION);
    let acl = Acl {
        tf: id.clone(),
        name: ctx.name(&["cdn", &cdn.meta.name], 128),
        description: format!("aistack {}: {addr}", s.name),
        scope: "CLOUDFRONT",
        provider: cf_provider,
        declaration: addr.clone(),
        rate: None,
        edge_rules: true,
        key: ctx.key_arn(CLOUDFRONT_REGION),
    };

    let oac = Expr::tf("aws_cloudfront_origin_access_control", id, "id");
    let mut dist = resource("aws_cloudfront_distribution", id, &None);
    if replica.is_none() {
        dist = dist.comment(&skip(
            "CKV_AWS_310",
            &format!("{origin_addr} has no replica to fail over to (it is in no dr replicate list)"),
        ));
    }
    if origin.encryption == Encryption::AwsManaged {
        dist = dist.comment(&format!(
            "{origin_addr} uses the AWS-managed aws/s3 key, whose policy cannot let CloudFront decrypt: set encryption = kms on it."
        ));
    }
    dist = dist
        .comment(&skip("CKV_AWS_374", &format!("{addr} declares no country restriction; content is served worldwide")))
        .attr("enabled", Expr::Bool(true))
        .attr("is_ipv6_enabled", Expr::Bool(true))
        .attr("http_version", Expr::str("http2and3"))
        .attr("comment", Expr::str(super::ctx::fit(&format!("aistack {}: {addr}", s.name), 128)))
        .attr("price_class", Expr::str(&cdn.price_class))
        .attr("default_root_object", Expr::str("index.html"))
        .attr("aliases", Expr::var(&aliases_var))
        .attr("web_acl_id", Expr::tf("aws_wafv2_web_acl", id, "arn"))
        .block(
            Block::new("origin", &[])
                .attr("domain_name", Expr::tf("aws_s3_bucket", &origin.meta.ident, "bucket_regional_domain_name"))
                .attr("origin_id", Expr::str("primary"))
                .attr("origin_access_control_id", oac.clone()),
        );
    let mut target = "primary";
    if let Some((_, replica_tf)) = replica {
        target = "failover";
        dist = dist
            .block(
                Block::new("origin", &[])
                    .attr("domain_name", Expr::tf("aws_s3_bucket", replica_tf, "bucket_regional_domain_name"))
                    .attr("origin_id", Expr::str("replica"))
                    .attr("origin_access_control_id", oac),
            )
            .block(
                Block::new("origin_group", &[])
                    .attr("origin_id", Expr::str("failover"))
                    .block(Block::new("failover_criteria", &[]).attr(
                        "status_codes",
                        Expr::List([403, 404, 500, 502, 503, 504].into_iter().map(Expr::Int).collect()),
                    ))
                    .block(Block::new("member", &[]).attr("origin_id", Expr::str("primary")))
                    .block(Block::new("member", &[]).attr("origin_id", Expr::str("replica"))),
            );
    }
    let mut behavior = Block::new("default_cache_behavior", &[])
        .attr("target_origin_id", Expr::str(target))
        .attr("viewer_protocol_policy", Expr::str("https-only"))
        .attr("allowed_methods", Expr::strs(["GET", "HEAD"]))
        .attr("cached_methods", Expr::strs(["GET", "HEAD"]))
        .attr("compress", Expr::Bool(true))
        .attr("cache_policy_id", Expr::tf("aws_cloudfront_cache_policy", id, "id"))
        .attr("response_headers_policy_id", Expr::tf("aws_cloudfront_response_headers_policy", id, "id"));
    if cdn.signed_urls {
        behavior =
            behavior.attr("trusted_key_groups", Expr::List(vec![Expr::tf("aws_cloudfront_key_group", id, "id")]));
    }
    let logs = ctx.cdn_logs.clone().unwrap_or_default();
    dist = dist
        .block(behavior)
        .block(
            Block::new("restrictions", &[])
                .block(Block::new("geo_restriction", &[]).attr("restriction_type", Expr::str("none"))),
        )
        .block(
            Block::new("viewer_certificate", &[])
                .attr("acm_certificate_arn", Expr::var(&cert_var))
                .attr("ssl_support_method", Expr::str("sni-only"))
                .attr("minimum_protocol_version", Expr::str("TLSv1.2_2021")),
        )
        .block(
            Block::new("logging_config", &[])
                .attr("bucket", Expr::tf("aws_s3_bucket", &logs, "bucket_domain_name"))
                .attr("prefix", Expr::str(format!("cloudfront/{}/", cdn.meta.name)))
                .attr("include_cookies", Expr::Bool(false)),
        )
        .attr("tags", tags(&addr))
        .attr("depends_on", Expr::List(vec![Expr::tf_resource("aws_s3_bucket_ownership_controls", &logs)]));
    f.blocks.push(dist);
    f.blocks.extend(acl.blocks());

    f.variables.push(
        variable(
            &cert_var,
            "string",
            &format!("ARN of the ACM certificate (issued in us-east-1) that {addr} serves; it must cover the aliases."),
        )
        .block(
            Block::new("validation", &[])
                .attr(
                    "condition",
                    Expr::call(
                        "can",
                        vec![Expr::call(
                            "regex",
                            vec![
                                Expr::str("^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/"),
                                Expr::var(&cert_var),
                            ],
                        )],
                    ),
                )
                .attr("error_message", Expr::str("CloudFront only uses ACM certificates from us-east-1.")),
        ),
    );
    f.variables.push(
        variable(
            &aliases_var,
            "list(string)",
            &format!("Domain names (CNAMEs) {addr} answers on; the certificate must cover them."),
        )
        .attr("default", Expr::List(Vec::new())),
    );
    f.outputs.push(output(
        &io_name(&cdn.meta, "domain_name"),
        &format!("CloudFront domain name of {addr}"),
        Expr::tf("aws_cloudfront_distribution", id, "domain_name"),
    ));
    f.outputs.push(output(
        &io_name(&cdn.meta, "distribution_id"),
        &format!("CloudFront distribution id of {addr}"),
        Expr::tf("aws_cloudfront_distribution", id, "id"),
    ));
    Some(f)
}
