//! Factory data from the cloud's own batch generator: the JSON record and the binary layout
//! load to the same identity, verifier and setup code the cloud registered.

use zpair_cloud::crypto::HostCrypto;
use zpair_cloud::manifest::{generate_batch, read_manifest, write_batch};
use zpair_core::types::{Modes, ProductId};

#[test]
fn records_and_the_binary_layout_load_to_what_the_cloud_registered() {
    let dir = tempfile::tempdir().unwrap();
    let batch = generate_batch(&mut HostCrypto, ProductId(99), 3, Modes::SOFTAP.union(Modes::CELLULAR)).unwrap();
    let ids = read_manifest(&write_batch(&batch, dir.path()).unwrap()).unwrap();
    for (rec, id) in batch.devices.iter().zip(&ids) {
        let path = dir.path().join("devices").join(format!("{}.json", rec.entry.device_id));
        let fd = zpair_sim::factory::load(&path).unwrap();
        assert_eq!((fd.device, fd.product), (id.device_id, id.product_id));
        assert_eq!(fd.activation_secret.expose(), &id.activation_secret);
        let v = fd.verifier.to_bytes();
        assert_eq!((&v[..32], &v[32..]), (&id.w0[..], &id.l[..]));
        assert_eq!(fd.setup_code.as_ref().map(|c| format!("{:08}", c.expose())), Some(rec.setup_code.clone()));
        assert_eq!(fd.modes, Modes::SOFTAP.union(Modes::CELLULAR));
        let dbg = format!("{fd:?}");
        assert!(!dbg.contains(&rec.setup_code) && !dbg.contains(&rec.entry.activation_secret));
        // The binary layout of the same data loads identically.
        let bin = dir.path().join(format!("{}.bin", rec.entry.device_id));
        std::fs::write(&bin, &fd.encode()[..]).unwrap();
        let back = zpair_sim::factory::load(&bin).unwrap();
        assert_eq!(back.encode()[..], fd.encode()[..]);
        // A record whose code and payload disagree is refused, naming no value.
        let mut bad: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        bad["setup_code"] = serde_json::Value::String("20202021".into());
        let e = zpair_sim::factory::from_record_json(&bad.to_string()).map(|_| ()).unwrap_err().to_string();
        if rec.setup_code != "20202021" {
            assert!(e.contains("disagree") && !e.contains("20202021"), "{e}");
        }
    }
}
