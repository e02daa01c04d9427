//! `airlock cert create`: issue a device certificate from the data directory's CA.

use std::path::Path;

use airlock_pki::files;
use airlock_server::bootstrap::{self, DataDir};
use anyhow::{Context, Result};

pub fn create(
    data: &Path,
    ca_key: Option<&Path>,
    thing: &str,
    out: &Path,
    days: u32,
    json: bool,
) -> Result<()> {
    if thing.is_empty()
        || thing.len() > 128
        || !thing
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'))
    {
        anyhow::bail!(
            "thing name {thing:?} is invalid: use 1-128 characters from a-z A-Z 0-9 : _ - (AWS IoT's rule)"
        );
    }
    let dir = DataDir::new(data, ca_key);
    let ca = bootstrap::load_ca(&dir).with_context(|| {
        format!(
            "no usable CA in {} — run 'airlock up --data {}' once first",
            data.display(),
            data.display()
        )
    })?;
    let issued = ca
        .issue_client(thing, airlock_pki::KeyAlgorithm::EcdsaP256, days)
        .context("issuing the device certificate")?;
    let cert = out.join(format!("{thing}.cert.pem"));
    let key = out.join(format!("{thing}.private.key"));
    let root = out.join("root-ca.pem");
    files::write_public(&cert, issued.cert_pem.as_bytes())
        .with_context(|| format!("writing {}", cert.display()))?;
    files::write_secret(&key, issued.key_pem.as_bytes())
        .with_context(|| format!("writing {}", key.display()))?;
    files::write_public(&root, ca.cert_pem().as_bytes())
        .with_context(|| format!("writing {}", root.display()))?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "thingName": thing,
                "certificateId": issued.certificate_id,
                "certificatePath": cert,
                "privateKeyPath": key,
                "rootCaPath": root,
            })
        );
    } else {
        println!("Issued certificate {} for {thing}", issued.certificate_id);
        println!("  certificate  {}", cert.display());
        println!("  private key  {} (mode 0600)", key.display());
        println!("  root CA      {}", root.display());
        println!();
        println!("Try it (client id = thing name):");
        println!(
            "  mosquitto_pub -h localhost -p 8883 --cafile {} --cert {} --key {} -i {thing} -t {thing}/hello -m 'hi' -q 1",
            root.display(),
            cert.display(),
            key.display()
        );
    }
    Ok(())
}
