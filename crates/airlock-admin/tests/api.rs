//! The admin API over a real socket, registry, CA and authorizer.

mod support;

use serde_json::{Value, json};

use airlock_registry::{CertificateStatus, Event};
use support::{ACCOUNT, Api, REGION, encode};

#[test]
fn things_create_describe_list_update_delete() {
    let api = Api::start();
    let created = api
        .post(
            "/things/sensor-1",
            &json!({"attributePayload": {"attributes": {"room": "7"}}}),
        )
        .ok();
    assert_eq!(created["thingName"], "sensor-1");
    assert_eq!(created["thingArn"], Api::arn("thing/sensor-1"));
    assert!(created["thingId"].as_str().is_some_and(|s| s.len() == 36));

    let again = api.post("/things/sensor-1", &json!({}));
    assert_eq!(again.body["resourceId"], "sensor-1");
    assert_eq!(again.body["resourceArn"], Api::arn("thing/sensor-1"));
    again.err(409, "ResourceAlreadyExistsException");

    let d = api.get("/things/sensor-1").ok();
    assert_eq!(d["defaultClientId"], "sensor-1");
    assert_eq!(d["thingId"], created["thingId"]);
    assert_eq!(d["attributes"]["room"], "7");
    assert_eq!(d["version"], 1);

    api.post("/things/sensor-2", &json!({})).ok();
    let all = api.get("/things").ok();
    assert_eq!(all["things"].as_array().map(Vec::len), Some(2));
    let by_attr = api.get("/things?attributeName=room&attributeValue=7").ok();
    assert_eq!(by_attr["things"][0]["thingName"], "sensor-1");
    assert_eq!(by_attr["things"].as_array().map(Vec::len), Some(1));
    let page = api.get("/things?maxResults=1").ok();
    let token = page["nextToken"].as_str().expect("nextToken").to_string();
    let page2 = api
        .get(&format!("/things?maxResults=1&nextToken={token}"))
        .ok();
    assert_eq!(page2["things"][0]["thingName"], "sensor-2");
    assert!(page2.get("nextToken").is_none());

    api.patch("/things/sensor-1", &json!({"attributePayload": {"attributes": {"floor": "2"}, "merge": true}, "expectedVersion": 1}))
        .ok();
    let d = api.get("/things/sensor-1").ok();
    assert_eq!(
        (d["attributes"]["floor"].as_str(), d["version"].as_u64()),
        (Some("2"), Some(2))
    );
    api.patch("/things/sensor-1", &json!({"expectedVersion": 1}))
        .err(409, "VersionConflictException");

    api.delete("/things/sensor-1?expectedVersion=2").ok();
    api.get("/things/sensor-1")
        .err(404, "ResourceNotFoundException");
    assert!(api.events().contains(&Event::ThingDeleted {
        thing_name: "sensor-1".into()
    }));
}

#[test]
fn groups_and_membership() {
    let api = Api::start();
    api.post("/things/t1", &json!({})).ok();
    let g = api.post("/thing-groups/plant", &json!({})).ok();
    assert_eq!(g["thingGroupArn"], Api::arn("thinggroup/plant"));
    api.post("/thing-groups/line-1", &json!({"parentGroupName": "plant"}))
        .ok();
    api.put(
        "/thing-groups/addThingToThingGroup",
        &json!({"thingGroupName": "line-1", "thingName": "t1"}),
    )
    .ok();
    let d = api.get("/thing-groups/line-1").ok();
    assert_eq!(d["thingGroupMetadata"]["parentGroupName"], "plant");
    assert_eq!(
        d["thingGroupMetadata"]["rootToParentThingGroups"][0]["groupName"],
        "plant"
    );

    assert_eq!(
        api.get("/thing-groups/plant/things").ok()["things"],
        json!([])
    );
    assert_eq!(
        api.get("/thing-groups/plant/things?recursive=true").ok()["things"],
        json!(["t1"])
    );
    assert_eq!(
        api.get("/thing-groups/line-1/things").ok()["things"],
        json!(["t1"])
    );
    let children = api.get("/thing-groups?parentGroup=plant").ok();
    assert_eq!(children["thingGroups"][0]["groupName"], "line-1");

    api.delete("/thing-groups/plant")
        .err(409, "DeleteConflictException");
    api.put(
        "/thing-groups/removeThingFromThingGroup",
        &json!({"thingGroupName": "line-1", "thingName": "t1"}),
    )
    .ok();
    assert_eq!(
        api.get("/thing-groups/line-1/things").ok()["things"],
        json!([])
    );
    api.put(
        "/thing-groups/addThingToThingGroup",
        &json!({"thingName": "t1"}),
    )
    .err(400, "InvalidRequestException");
    api.get("/thing-groups/nope/things?recursive=maybe")
        .err(400, "InvalidRequestException");
}

#[test]
fn keys_and_certificate_issue_and_attach() {
    let api = Api::start();
    let created = api
        .post("/keys-and-certificate?setAsActive=true", &json!({}))
        .ok();
    let id = created["certificateId"].as_str().expect("id").to_string();
    let pem = created["certificatePem"].as_str().expect("pem");
    let der = airlock_pki::pem_to_der_chain(pem)
        .expect("PEM parses")
        .remove(0);
    assert_eq!(airlock_pki::certificate_id(&der), id);
    assert_eq!(created["certificateArn"], Api::arn(&format!("cert/{id}")));
    let key = created["keyPair"]["PrivateKey"]
        .as_str()
        .expect("private key");
    let key = rcgen::KeyPair::from_pem(key).expect("private key parses");
    assert_eq!(
        created["keyPair"]["PublicKey"].as_str(),
        Some(key.public_key_pem().as_str())
    );

    let d = api.get(&format!("/certificates/{id}")).ok();
    let d = &d["certificateDescription"];
    assert_eq!(
        (d["status"].as_str(), d["certificateMode"].as_str()),
        (Some("ACTIVE"), Some("DEFAULT"))
    );
    assert!(d["validity"]["notAfter"].as_i64() > d["validity"]["notBefore"].as_i64());
    assert!(api.events().contains(&Event::CertificateRegistered {
        certificate_id: id.clone(),
        status: CertificateStatus::Active,
        ca_certificate_id: None,
    }));

    // Thing principals, by ARN and by bare id.
    api.post("/things/t1", &json!({})).ok();
    let arn = Api::arn(&format!("cert/{id}"));
    let attach = api.call(
        "PUT",
        "/things/t1/principals?thingPrincipalType=EXCLUSIVE_THING",
        Some(&arn),
        None,
    );
    attach.ok();
    assert_eq!(
        api.get("/things/t1/principals").ok()["principals"],
        json!([arn])
    );
    assert_eq!(
        api.call("GET", "/principals/things", Some(&id), None).ok()["things"],
        json!(["t1"])
    );
    api.call("PUT", "/things/t1/principals", None, None)
        .err(400, "InvalidRequestException");
    api.call("PUT", "/things/t1/principals", Some("not-a-cert"), None)
        .err(400, "InvalidRequestException");
    api.delete("/things/t1").err(409, "DeleteConflictException");
    api.call("DELETE", "/things/t1/principals", Some(&id), None)
        .ok();

    // An ACTIVE certificate cannot be deleted.
    api.delete(&format!("/certificates/{id}"))
        .err(406, "CertificateStateException");
    assert_eq!(
        api.get("/certificates").ok()["certificates"][0]["certificateId"],
        id.as_str()
    );
}

#[test]
fn csr_signing() {
    let api = Api::start();
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "dev-42");
    let csr = params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("csr pem");
    let out = api
        .post(
            "/certificates?setAsActive=false",
            &json!({"certificateSigningRequest": csr}),
        )
        .ok();
    let pem = out["certificatePem"].as_str().expect("pem");
    let der = airlock_pki::pem_to_der_chain(pem).expect("PEM").remove(0);
    assert_eq!(
        out["certificateId"].as_str(),
        Some(airlock_pki::certificate_id(&der).as_str())
    );
    let info = airlock_pki::certificate_info(&der).expect("info");
    assert_eq!(info.subject["CommonName"], vec!["dev-42".to_string()]);
    let d = api
        .get(&format!(
            "/certificates/{}",
            out["certificateId"].as_str().unwrap_or("")
        ))
        .ok();
    assert_eq!(d["certificateDescription"]["status"], "INACTIVE");

    let bad = api.post("/certificates", &json!({"certificateSigningRequest": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}));
    bad.err(400, "InvalidRequestException");
    let msg = api
        .post("/certificates", &json!({}))
        .err(400, "InvalidRequestException");
    assert!(msg.contains("certificateSigningRequest"), "{msg}");
}

#[test]
fn revoking_reports_the_event_and_is_final() {
    let api = Api::start();
    let id = api
        .post("/keys-and-certificate?setAsActive=true", &json!({}))
        .ok()["certificateId"]
        .as_str()
        .expect("id")
        .to_string();
    api.put(&format!("/certificates/{id}?newStatus=REVOKED"), &json!({}))
        .ok();
    assert!(api.events().contains(&Event::CertificateStatusChanged {
        certificate_id: id.clone(),
        from: CertificateStatus::Active,
        to: CertificateStatus::Revoked,
    }));
    let msg = api
        .put(&format!("/certificates/{id}?newStatus=ACTIVE"), &json!({}))
        .err(406, "CertificateStateException");
    assert!(msg.contains("REVOKED"), "{msg}");
    api.put(
        &format!("/certificates/{id}?newStatus=SOMETIMES"),
        &json!({}),
    )
    .err(400, "InvalidRequestException");
    api.put(&format!("/certificates/{id}"), &json!({}))
        .err(400, "InvalidRequestException");
    api.put(
        &format!("/certificates/{}?newStatus=ACTIVE", "0".repeat(64)),
        &json!({}),
    )
    .err(404, "ResourceNotFoundException");

    // forceDelete detaches its policies first.
    api.post("/policies/p", &json!({"policyDocument": ALLOW_ALL}))
        .ok();
    api.put("/target-policies/p", &json!({"target": id})).ok();
    api.delete(&format!("/certificates/{id}"))
        .err(409, "DeleteConflictException");
    api.delete(&format!("/certificates/{id}?forceDelete=true"))
        .ok();
    api.get(&format!("/certificates/{id}"))
        .err(404, "ResourceNotFoundException");
    assert_eq!(
        api.post("/policy-targets/p", &json!({})).ok()["targets"],
        json!([])
    );
}

/// A self-signed CA of the operator's own, made with rcgen.
fn operator_ca(cn: &str) -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let pem = params.self_signed(&key).expect("CA").pem();
    (rcgen::Issuer::new(params, key), pem)
}

fn leaf(cn: &str, issuer: &rcgen::Issuer<'static, rcgen::KeyPair>) -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.signed_by(&key, issuer).expect("sign").pem()
}

#[test]
fn ca_registration_and_certificates_under_it() {
    let api = Api::start();
    let code = api.get("/registrationcode").ok()["registrationCode"]
        .as_str()
        .expect("code")
        .to_string();
    assert_eq!(code.len(), 64);
    assert_eq!(
        api.get("/registrationcode").ok()["registrationCode"],
        code.as_str()
    );

    let (ca, ca_pem) = operator_ca("Plant CA");
    let (other, _) = operator_ca("Other CA");

    // Wrong CN, and right CN signed by another key: both refused.
    let wrong_cn = leaf("not-the-code", &ca);
    let msg = api
        .post(
            "/cacertificate",
            &json!({"caCertificate": ca_pem, "verificationCertificate": wrong_cn}),
        )
        .err(400, "CertificateValidationException");
    assert!(msg.contains(&code), "{msg}");
    let wrong_key = leaf(&code, &other);
    api.post(
        "/cacertificate",
        &json!({"caCertificate": ca_pem, "verificationCertificate": wrong_key}),
    )
    .err(400, "CertificateValidationException");
    api.post("/cacertificate", &json!({"caCertificate": ca_pem}))
        .err(400, "InvalidRequestException");
    api.post(
        "/cacertificate",
        &json!({"caCertificate": leaf("device", &ca), "certificateMode": "SNI_ONLY"}),
    )
    .err(400, "InvalidRequestException");

    let verification = leaf(&code, &ca);
    let reg = api
        .post(
            "/cacertificate?setAsActive=true&allowAutoRegistration=true",
            &json!({"caCertificate": ca_pem, "verificationCertificate": verification}),
        )
        .ok();
    let ca_id = reg["certificateId"].as_str().expect("ca id").to_string();
    assert_eq!(reg["certificateArn"], Api::arn(&format!("cacert/{ca_id}")));
    let d = api.get(&format!("/cacertificate/{ca_id}")).ok();
    assert_eq!(
        d["certificateDescription"]["autoRegistrationStatus"],
        "ENABLE"
    );
    assert_eq!(d["certificateDescription"]["status"], "ACTIVE");
    assert_eq!(
        api.get("/cacertificates").ok()["certificates"][0]["certificateId"],
        ca_id.as_str()
    );

    // A device certificate of that CA registers under it; one of an unknown CA does not.
    let device = leaf("device-1", &ca);
    let out = api
        .post(
            "/certificate/register",
            &json!({"certificatePem": device, "status": "ACTIVE"}),
        )
        .ok();
    let dev_id = out["certificateId"].as_str().expect("id").to_string();
    let d = api.get(&format!("/certificates/{dev_id}")).ok();
    assert_eq!(
        d["certificateDescription"]["caCertificateId"],
        ca_id.as_str()
    );
    let stranger = leaf("device-2", &other);
    api.post(
        "/certificate/register",
        &json!({"certificatePem": stranger}),
    )
    .err(400, "CertificateValidationException");
    // ... unless registered without a CA.
    let out = api
        .post(
            "/certificate/register-no-ca",
            &json!({"certificatePem": stranger}),
        )
        .ok();
    let d = api
        .get(&format!(
            "/certificates/{}",
            out["certificateId"].as_str().unwrap_or("")
        ))
        .ok();
    assert_eq!(d["certificateDescription"]["certificateMode"], "SNI_ONLY");
    assert_eq!(d["certificateDescription"]["status"], "INACTIVE");

    // A certificate of Airlock's own CA registers too, without a CA id.
    let own = api
        .ca
        .issue_client("own-device", airlock_pki::KeyAlgorithm::EcdsaP256, 30)
        .expect("issue");
    api.post(
        "/certificate/register",
        &json!({"certificatePem": own.cert_pem}),
    )
    .ok();

    // An ACTIVE CA with certificates cannot be deleted; deactivated it still has them.
    api.delete(&format!("/cacertificate/{ca_id}"))
        .err(406, "CertificateStateException");
    api.put(
        &format!("/cacertificate/{ca_id}?newStatus=INACTIVE&newAutoRegistrationStatus=DISABLE"),
        &json!({}),
    )
    .ok();
    api.delete(&format!("/cacertificate/{ca_id}"))
        .err(409, "DeleteConflictException");
    // An INACTIVE CA takes no new registrations.
    api.post(
        "/certificate/register",
        &json!({"certificatePem": leaf("device-3", &ca)}),
    )
    .err(406, "CertificateStateException");
}

const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;

#[test]
fn policies_versions_and_limits() {
    let api = Api::start();
    let created = api
        .post("/policies/p1", &json!({"policyDocument": ALLOW_ALL}))
        .ok();
    assert_eq!(
        (
            created["policyArn"].as_str(),
            created["policyVersionId"].as_str()
        ),
        (Some(Api::arn("policy/p1").as_str()), Some("1"))
    );
    let msg = api
        .post("/policies/bad", &json!({"policyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"iot:*","Resource":"*"}]}"#}))
        .err(400, "MalformedPolicyException");
    assert!(msg.contains("Effect"), "the message names the field: {msg}");
    api.post("/policies/bad", &json!({"policyDocument": "{not json"}))
        .err(400, "MalformedPolicyException");
    // A JSON object for policyDocument is accepted as its text.
    api.post("/policies/obj", &json!({"policyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}}))
        .ok();

    for n in 2..=5 {
        let v = api
            .post(
                "/policies/p1/version?setAsDefault=true",
                &json!({"policyDocument": ALLOW_ALL}),
            )
            .ok();
        assert_eq!(
            (
                v["policyVersionId"].as_str(),
                v["isDefaultVersion"].as_bool()
            ),
            (Some(n.to_string().as_str()), Some(true))
        );
    }
    api.post(
        "/policies/p1/version",
        &json!({"policyDocument": ALLOW_ALL}),
    )
    .err(409, "VersionsLimitExceededException");
    let versions = api.get("/policies/p1/version").ok();
    assert_eq!(versions["policyVersions"].as_array().map(Vec::len), Some(5));
    let got = api.get("/policies/p1").ok();
    assert_eq!(got["defaultVersionId"], "5");
    api.delete("/policies/p1/version/5")
        .err(409, "DeleteConflictException");
    api.patch("/policies/p1/version/2", &json!({})).ok();
    let v2 = api.get("/policies/p1/version/2").ok();
    assert_eq!(v2["isDefaultVersion"], true);
    api.get("/policies/p1/version/x")
        .err(400, "InvalidRequestException");
    api.get("/policies/p1/version/9")
        .err(404, "ResourceNotFoundException");
    api.delete("/policies/p1/version/5").ok();
    api.delete("/policies/p1")
        .err(409, "DeleteConflictException");
    for v in [1, 3, 4] {
        api.delete(&format!("/policies/p1/version/{v}")).ok();
    }
    api.delete("/policies/p1").ok();
    let names: Vec<Value> = api.get("/policies").ok()["policies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        names,
        vec![json!({"policyName": "obj", "policyArn": Api::arn("policy/obj")})]
    );
}

#[test]
fn attach_detach_and_list_attachments() {
    let api = Api::start();
    let id = api.post("/keys-and-certificate", &json!({})).ok()["certificateId"]
        .as_str()
        .expect("id")
        .to_string();
    let cert_arn = Api::arn(&format!("cert/{id}"));
    api.post("/policies/p", &json!({"policyDocument": ALLOW_ALL}))
        .ok();
    api.post("/policies/q", &json!({"policyDocument": ALLOW_ALL}))
        .ok();
    api.post("/thing-groups/root", &json!({})).ok();
    api.post("/thing-groups/leaf", &json!({"parentGroupName": "root"}))
        .ok();

    api.put("/target-policies/p", &json!({"target": cert_arn}))
        .ok();
    api.put("/target-policies/q", &json!({"target": id})).ok();
    api.put(
        "/target-policies/p",
        &json!({"target": Api::arn("thinggroup/root")}),
    )
    .ok();
    api.put("/target-policies/p", &json!({"target": "nonsense"}))
        .err(400, "InvalidRequestException");
    api.put("/target-policies/missing", &json!({"target": id}))
        .err(404, "ResourceNotFoundException");

    let attached = api
        .post(
            &format!("/attached-policies/{}", encode(&cert_arn)),
            &json!({}),
        )
        .ok();
    assert_eq!(
        attached["policies"],
        json!([{"policyName": "p", "policyArn": Api::arn("policy/p")}, {"policyName": "q", "policyArn": Api::arn("policy/q")}])
    );
    let leaf = encode(&Api::arn("thinggroup/leaf"));
    assert_eq!(
        api.post(&format!("/attached-policies/{leaf}"), &json!({}))
            .ok()["policies"],
        json!([])
    );
    assert_eq!(
        api.post(
            &format!("/attached-policies/{leaf}?recursive=true"),
            &json!({})
        )
        .ok()["policies"][0]["policyName"],
        "p"
    );
    let targets = api.post("/policy-targets/p", &json!({})).ok();
    assert_eq!(targets["targets"].as_array().map(Vec::len), Some(2));
    assert!(
        targets["targets"]
            .as_array()
            .is_some_and(|t| t.contains(&json!(cert_arn)))
    );

    api.delete("/policies/p")
        .err(409, "DeleteConflictException");
    api.post("/target-policies/p", &json!({"target": cert_arn}))
        .ok();
    api.post("/target-policies/p", &json!({"target": cert_arn}))
        .err(404, "ResourceNotFoundException");
    assert_eq!(
        api.post("/policy-targets/p", &json!({})).ok()["targets"],
        json!([Api::arn("thinggroup/root")])
    );
    assert!(
        api.events()
            .iter()
            .any(|e| matches!(e, Event::PolicyDetached { policy_name, .. } if policy_name == "p"))
    );
}

#[test]
fn test_authorization_allows_and_explains_denials() {
    let api = Api::start();
    let id = api
        .post("/keys-and-certificate?setAsActive=true", &json!({}))
        .ok()["certificateId"]
        .as_str()
        .expect("id")
        .to_string();
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["iot:Connect", "iot:Publish", "iot:RetainPublish"], "Resource": "*"},
            {"Sid": "NoSecrets", "Effect": "Deny", "Action": "iot:Publish",
             "Resource": format!("arn:aws:iot:{REGION}:{ACCOUNT}:topic/plant/secret")}
        ]
    });
    api.post(
        "/policies/device",
        &json!({"policyDocument": doc.to_string()}),
    )
    .ok();
    api.put("/target-policies/device", &json!({"target": id}))
        .ok();

    let allowed = api
        .post("/test-authorization?clientId=dev-1", &json!({
            "principal": Api::arn(&format!("cert/{id}")),
            "authInfos": [{"actionType": "PUBLISH", "resources": [format!("arn:aws:iot:{REGION}:{ACCOUNT}:topic/plant/temp")]}]
        }))
        .ok();
    let r = &allowed["authResults"][0];
    assert_eq!(r["authDecision"], "ALLOWED");
    assert_eq!(r["allowed"]["policies"][0]["policyName"], "device");
    assert_eq!(
        r["statements"],
        json!([{"policyName": "device", "statementIndex": 0, "effect": "Allow"}])
    );
    assert!(r.get("reason").is_none());

    let denied = api
        .post(
            "/test-authorization?clientId=dev-1",
            &json!({
                "principal": id,
                "authInfos": [{"actionType": "PUBLISH", "resources": ["topic/plant/secret"]}]
            }),
        )
        .ok();
    let r = &denied["authResults"][0];
    assert_eq!(r["authDecision"], "EXPLICIT_DENY");
    assert_eq!(
        r["denied"]["explicitDeny"]["policies"][0]["policyArn"],
        Api::arn("policy/device")
    );
    assert!(r["statements"].as_array().is_some_and(|s| s.contains(
        &json!({"policyName": "device", "statementIndex": 1, "sid": "NoSecrets", "effect": "Deny"})
    )));
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("NoSecrets")),
        "{r}"
    );

    // Airlock's `action` and `thingName` extensions, and an implicit deny.
    api.post("/things/t1", &json!({})).ok();
    api.call("PUT", "/things/t1/principals", Some(&id), None)
        .ok();
    let out = api
        .post(
            "/test-authorization",
            &json!({
                "thingName": "t1",
                "sourceIp": "192.0.2.1",
                "authInfos": [
                    {"action": "iot:RetainPublish", "resources": ["topic/a"]},
                    {"actionType": "SUBSCRIBE", "resources": ["topicfilter/a/#"]}
                ]
            }),
        )
        .ok();
    assert_eq!(out["authResults"][0]["authDecision"], "ALLOWED");
    assert_eq!(
        out["authResults"][0]["authInfo"]["action"],
        "iot:RetainPublish"
    );
    assert_eq!(out["authResults"][1]["authDecision"], "IMPLICIT_DENY");
    assert_eq!(
        out["authResults"][1]["denied"]["implicitDeny"]["policies"][0]["policyName"],
        "device"
    );
    assert!(out["authResults"][1]["reason"].is_string());

    // Refusals.
    let bad = |body: Value| {
        api.post("/test-authorization", &body)
            .err(400, "InvalidRequestException")
    };
    bad(json!({"principal": id, "authInfos": [{"actionType": "JUMP", "resources": ["topic/a"]}]}));
    bad(json!({"principal": id, "authInfos": [{"action": "iot:Fly", "resources": ["topic/a"]}]}));
    bad(json!({"principal": id, "authInfos": [{"actionType": "PUBLISH", "resources": []}]}));
    bad(json!({"principal": id, "authInfos": []}));
    bad(
        json!({"principal": id, "sourceIp": "nowhere", "authInfos": [{"actionType": "PUBLISH", "resources": ["topic/a"]}]}),
    );
    bad(json!({"authInfos": [{"actionType": "PUBLISH", "resources": ["topic/a"]}]}));
    api.post("/test-authorization", &json!({"thingName": "ghost", "authInfos": [{"actionType": "PUBLISH", "resources": ["topic/a"]}]}))
        .err(404, "ResourceNotFoundException");
}

#[test]
fn role_alias_crud() {
    let api = Api::start();
    let role = "arn:aws:iam::123456789012:role/device-role";
    let c = api
        .post(
            "/role-aliases/cam",
            &json!({"roleArn": role, "credentialDurationSeconds": 1800}),
        )
        .ok();
    assert_eq!(c["roleAliasArn"], Api::arn("rolealias/cam"));
    let d = api.get("/role-aliases/cam").ok();
    assert_eq!(d["roleAliasDescription"]["credentialDurationSeconds"], 1800);
    assert_eq!(d["roleAliasDescription"]["roleArn"], role);
    api.put(
        "/role-aliases/cam",
        &json!({"credentialDurationSeconds": 3600}),
    )
    .ok();
    assert_eq!(
        api.get("/role-aliases/cam").ok()["roleAliasDescription"]["credentialDurationSeconds"],
        3600
    );
    api.put(
        "/role-aliases/cam",
        &json!({"credentialDurationSeconds": 5}),
    )
    .err(400, "InvalidRequestException");
    api.post("/role-aliases/x", &json!({}))
        .err(400, "InvalidRequestException");
    assert_eq!(api.get("/role-aliases").ok()["roleAliases"], json!(["cam"]));
    api.delete("/role-aliases/cam").ok();
    api.get("/role-aliases/cam")
        .err(404, "ResourceNotFoundException");
    assert!(api.events().contains(&Event::RoleAliasDeleted {
        role_alias: "cam".into()
    }));
}

#[test]
fn iam_roles_and_inline_policies() {
    let api = Api::start();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::artifacts/${credentials-iot:ThingName}/*"}]}"#;
    let r = api
        .post(
            "/iam/roles/artifact-reader",
            &json!({"maxSessionDuration": 7200}),
        )
        .ok();
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/artifact-reader");
    assert_eq!(r["role"]["roleArn"], arn.as_str());
    assert_eq!(r["role"]["maxSessionDuration"], 7200);
    api.post("/iam/roles/artifact-reader", &json!({}))
        .err(409, "ResourceAlreadyExistsException");
    api.post("/iam/roles/short", &json!({"maxSessionDuration": 900}))
        .err(400, "InvalidRequestException");
    api.post(&format!("/iam/roles/{}", "r".repeat(65)), &json!({}))
        .err(400, "InvalidRequestException");
    assert_eq!(
        api.get("/iam/roles/artifact-reader").ok()["role"]["roleArn"],
        arn.as_str()
    );
    assert_eq!(
        api.get("/iam/roles").ok()["roles"][0]["roleName"],
        "artifact-reader"
    );
    api.get("/iam/roles/ghost")
        .err(404, "ResourceNotFoundException");

    // Documents go through airlock-credentials' parser; its refusal names the element.
    let msg = api
        .put(
            "/iam/roles/artifact-reader/policies/bad",
            &json!({"policyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}"#}),
        )
        .err(400, "MalformedPolicyException");
    assert!(msg.contains("Resource"), "{msg}");
    api.put(
        "/iam/roles/artifact-reader/policies/read",
        &json!({"policyDocument": doc}),
    )
    .ok();
    assert_eq!(
        api.get("/iam/roles/artifact-reader/policies").ok()["policyNames"],
        json!(["read"])
    );
    assert_eq!(
        api.get("/iam/roles/artifact-reader/policies/read").ok()["policyDocument"],
        doc
    );
    api.delete("/iam/roles/artifact-reader")
        .err(409, "DeleteConflictException");
    api.delete("/iam/roles/artifact-reader/policies/read").ok();
    api.get("/iam/roles/artifact-reader/policies/read")
        .err(404, "ResourceNotFoundException");
    api.delete("/iam/roles/artifact-reader").ok();
    assert!(api.events().contains(&Event::RoleDeleted {
        role_name: "artifact-reader".into()
    }));
}

#[test]
fn thing_types() {
    let api = Api::start();
    let t = api
        .post("/thing-types/sensor", &json!({"thingTypeProperties": {"thingTypeDescription": "d", "searchableAttributes": ["room"]}}))
        .ok();
    assert_eq!(t["thingTypeArn"], Api::arn("thingtype/sensor"));
    let d = api.get("/thing-types/sensor").ok();
    assert_eq!(
        d["thingTypeProperties"]["searchableAttributes"],
        json!(["room"])
    );
    assert_eq!(d["thingTypeMetadata"]["deprecated"], false);
    api.post("/things/t", &json!({"thingTypeName": "sensor"}))
        .ok();
    assert_eq!(
        api.get("/things?thingTypeName=sensor").ok()["things"][0]["thingName"],
        "t"
    );
    api.delete("/thing-types/sensor")
        .err(400, "InvalidRequestException");
    api.post("/thing-types/sensor/deprecate", &json!({})).ok();
    api.delete("/thing-types/sensor")
        .err(409, "DeleteConflictException");
    api.delete("/things/t").ok();
    api.delete("/thing-types/sensor").ok();
    assert_eq!(api.get("/thing-types").ok()["thingTypes"], json!([]));
}

#[test]
fn malformed_requests_are_aws_errors() {
    let api = Api::start();
    let msg = api
        .call("POST", "/things/t", None, Some("{not json"))
        .err(400, "InvalidRequestException");
    assert!(msg.contains("not valid"), "{msg}");
    api.call(
        "POST",
        "/things/t",
        None,
        Some(r#"{"attributePayload": 3}"#),
    )
    .err(400, "InvalidRequestException");
    let msg = api
        .post("/keys-and-certificate?setAsActive=maybe", &json!({}))
        .err(400, "InvalidRequestException");
    assert!(msg.contains("setAsActive"), "{msg}");
    api.get("/things?maxResults=0")
        .err(400, "InvalidRequestException");
    api.get("/things?maxResults=-1")
        .err(400, "InvalidRequestException");
    api.get("/things?nextToken=zz")
        .err(400, "InvalidRequestException");
    api.post("/things/bad%20name!", &json!({}))
        .err(400, "InvalidRequestException");
    api.get("/no/such/operation")
        .err(404, "UnknownOperationException");
    api.delete("/things").err(405, "MethodNotAllowedException");
    // An empty body reads as {} for operations whose fields are all optional.
    api.call("POST", "/things/t", None, None).ok();
}

#[test]
fn endpoint_and_info() {
    let api = Api::start();
    assert_eq!(
        api.get("/endpoint?endpointType=iot:Data-ATS").ok()["endpointAddress"],
        "iot.example.test"
    );
    assert_eq!(
        api.get("/endpoint").ok()["endpointAddress"],
        "iot.example.test"
    );
    api.get("/endpoint?endpointType=iot:CredentialProvider")
        .err(404, "ResourceNotFoundException");
    api.get("/endpoint?endpointType=iot:Jobs")
        .err(400, "InvalidRequestException");
    let info = api.get("/airlock/info").ok();
    assert_eq!(
        (info["region"].as_str(), info["accountId"].as_str()),
        (Some(REGION), Some(ACCOUNT))
    );
    assert_eq!(info["endpoints"][1]["port"], 8883);
    assert_eq!(info["rootCaPem"].as_str(), Some(api.ca.cert_pem()));
}

#[test]
fn domain_configurations_need_a_server_store() {
    let api = Api::start();
    let msg = api
        .get("/domainConfigurations")
        .err(400, "InvalidRequestException");
    assert!(msg.contains("domain configurations"), "{msg}");
    api.post("/domainConfigurations/d", &json!({}))
        .err(400, "InvalidRequestException");
}
