//! Reading the credentials of a config's authentications, at load time and again while running
//! (rotated passwords): [`load_all`] validates a config with its Kubernetes Secrets and
//! ConfigMaps read,
//! [`ConfigCredentials`] rebuilds one object's triggers with their credentials read again.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use scalers_core::config::auth::{KeyObject, SecretKeyRef, SecretRead, resolve};
use scalers_core::config::model::{AuthSource, Config, ScaledJob, ScaledObject};
use scalers_core::config::{Validated, validate_all_with_secrets};
use scalers_core::secret::Secret;
use scalers_core::trigger::Registry;

use crate::daemon::rotation::{Credentials, Rebuilt, Scaled};
use crate::error::Result;

/// The Secret and ConfigMap keys read for a config: `(object, namespace, name, key)` → the
/// value, or why not.
type SecretValues =
    BTreeMap<(KeyObject, String, String, String), std::result::Result<Secret, String>>;

/// Reads every Secret and ConfigMap key that `config`'s authentications name, once each,
/// through `client`; cluster-wide authentications (and those of scalerd's own format without
/// a namespace) read from `own_namespace`.
async fn read_secrets(client: &kube::Client, config: &Config, own_namespace: &str) -> SecretValues {
    let mut read = SecretValues::new();
    for auth in &config.authentications {
        let ns = auth.namespace.as_deref().unwrap_or(own_namespace);
        for p in &auth.parameters {
            let (object, name, key) = match &p.source {
                AuthSource::Secret { name, key } => (KeyObject::Secret, name, key),
                AuthSource::ConfigMap { name, key } => (KeyObject::ConfigMap, name, key),
                _ => continue,
            };
            let k = (object, ns.to_owned(), name.clone(), key.clone());
            if read.contains_key(&k) {
                continue;
            }
            let value = if object == KeyObject::ConfigMap {
                crate::kube::read_config_map_key(client, ns, name, key).await
            } else {
                crate::kube::read_secret_key(client, ns, name, key).await
            };
            read.insert(k, value.map_err(|e| e.to_string()));
        }
    }
    read
}

/// The environments of a scale target's containers (cluster mode), which `*FromEnv`
/// parameters and TriggerAuthentication `env` sources read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetEnv {
    /// The target as errors name it: `Deployment shop/orders`.
    pub target: String,
    /// What `*FromEnv` parameters read: the environment of the container named by
    /// `envSourceContainerName`, else of the first.
    pub main: BTreeMap<String, String>,
    /// The environments of the containers that `env` sources name (`containerName`), by
    /// name, `""` for the first container; a container the pod template lacks is absent.
    pub containers: BTreeMap<String, BTreeMap<String, String>>,
    /// The name of the pod template's first container (none: no pod template was found).
    pub first: Option<String>,
    /// The target's namespace.
    pub namespace: String,
    /// The object's `scaleTargetRef`, as the API serves it.
    pub target_ref: serde_json::Value,
    /// The containers read for `env` sources (the keys `containers` may have).
    pub wanted: std::collections::BTreeSet<String>,
    /// The pod template's containers, as last read (to compute the environments again
    /// without reading the workload while its containers are unchanged).
    pub template: Vec<serde_json::Value>,
    /// A hash of them, as the workload watch computes it (none: not read).
    pub template_hash: Option<u64>,
}

impl TargetEnv {
    /// Variable `var` of container `container` (`""`: the first), as an `env` source reads it.
    ///
    /// # Errors
    /// Without such a container, or without such a variable in it (names only, no value).
    pub fn read(&self, container: &str, var: &str) -> std::result::Result<Secret, String> {
        let Some(env) = self.containers.get(container) else {
            return Err(match (&self.first, container) {
                (None, _) => format!("{} has no pod template to read {var} from", self.target),
                (Some(_), "") => format!("{} has no container", self.target),
                (Some(_), c) => format!("containerName: {} has no container {c:?}", self.target),
            });
        };
        let shown = if container.is_empty() {
            self.first.as_deref().unwrap_or_default()
        } else {
            container
        };
        env.get(var).map(Secret::new).ok_or_else(|| {
            format!(
                "container {shown:?} of {} has no variable {var}",
                self.target
            )
        })
    }
}

/// The secret reader over values read by [`read_secrets`]; offline placeholders without a
/// cluster; with a `target`, `env` sources read its containers.
fn reader<'a>(
    read: &'a SecretValues,
    online: bool,
    own_namespace: &'a str,
    target: Option<&'a TargetEnv>,
) -> impl Fn(&SecretKeyRef<'_>) -> std::result::Result<SecretRead, String> + 'a {
    move |r: &SecretKeyRef<'_>| {
        if r.object == KeyObject::Container {
            return match target {
                Some(t) => t.read(r.name, r.key).map(SecretRead::Found),
                None => Ok(SecretRead::Offline),
            };
        }
        if !online {
            return Ok(SecretRead::Offline);
        }
        let ns = r.namespace.unwrap_or(own_namespace);
        let at = (r.object, ns.to_owned(), r.name.to_owned(), r.key.to_owned());
        match read.get(&at) {
            Some(Ok(secret)) => Ok(SecretRead::Found(secret.clone())),
            Some(Err(e)) => Err(e.clone()),
            None => Err("not read".to_owned()),
        }
    }
}

/// The fingerprints of each object's trigger credentials (by [`Scaled::key`], one per
/// trigger in order, 0 for a trigger without an authentication), as [`Rebuilt::fingerprints`].
pub type Fingerprints = HashMap<String, Vec<u64>>;

/// Validates `config` (read from `file`) and builds its triggers, reading the Kubernetes
/// Secrets its authentications name through `client` (offline placeholders without one) and
/// `*FromEnv` parameters and `env` sources through `env`; the scaled objects and scaled jobs,
/// and the fingerprints of the credentials they were built with.
///
/// # Errors
/// [`crate::Error::Config`] with every problem found.
pub async fn load_all(
    config: &Config,
    file: &str,
    registry: &Registry,
    client: Option<&kube::Client>,
    own_namespace: &str,
    env: scalers_core::trigger::EnvLookup<'_>,
) -> Result<(Validated, Fingerprints)> {
    load_with(config, file, registry, client, own_namespace, env, None).await
}

/// Like [`load_all`], for an object or scaled job from the cluster: `*FromEnv` parameters and
/// `env` sources read the environment of `target`'s containers (a scaled object's target, a
/// scaled job's Job template); without a target, there is no environment to read.
///
/// # Errors
/// As [`load_all`].
pub async fn load_cluster(
    config: &Config,
    file: &str,
    registry: &Registry,
    client: &kube::Client,
    own_namespace: &str,
    target: Option<&TargetEnv>,
) -> Result<(Validated, Fingerprints)> {
    let env = |name: &str| target.and_then(|t| t.main.get(name).cloned());
    load_with(
        config,
        file,
        registry,
        Some(client),
        own_namespace,
        &env,
        target,
    )
    .await
}

/// [`load_all`], `env` sources reading `target`'s containers when there is one.
async fn load_with(
    config: &Config,
    file: &str,
    registry: &Registry,
    client: Option<&kube::Client>,
    own_namespace: &str,
    env: scalers_core::trigger::EnvLookup<'_>,
    target: Option<&TargetEnv>,
) -> Result<(Validated, Fingerprints)> {
    let read = match client {
        Some(c) => read_secrets(c, config, own_namespace).await,
        None => SecretValues::new(),
    };
    let reader = reader(&read, client.is_some(), own_namespace, target);
    let objects = validate_all_with_secrets(config, registry, file, env, &reader)?;
    // One read of each authentication (validation just read them all, so they resolve).
    let mut by_auth: HashMap<usize, u64> = HashMap::new();
    let mut fingerprints = Fingerprints::new();
    // Borrowed: a copy of every object here was a transient second config at start-up.
    let hosts = config
        .scaled_objects
        .iter()
        .map(Scaled::Object)
        .chain(config.scaled_jobs.iter().map(Scaled::Job));
    for scaled in hosts {
        let key = scaled.key();
        let object = scaled.host();
        let object = &*object;
        let mut prints = Vec::with_capacity(object.triggers.len());
        for t in &object.triggers {
            let index = t
                .authentication_ref
                .as_ref()
                .and_then(|r| config.authentication_index(object, r));
            let print = match index {
                None => 0,
                Some(i) => *by_auth.entry(i).or_insert_with(|| {
                    resolve(&config.authentications[i], env, &reader)
                        .map_or(0, |v| fingerprint(v.values()))
                }),
            };
            prints.push(with_env(print, t, env));
        }
        fingerprints.insert(key, prints);
    }
    Ok((objects, fingerprints))
}

/// Rebuilds triggers of the running config with their credentials read again: environment
/// variables, files, and Kubernetes Secrets through the API ([`Credentials`]).
///
/// It holds the config last loaded (replace it with [`ConfigCredentials::set_config`] on a
/// reload); a rebuild validates only the one object and the authentications it refers to.
pub struct ConfigCredentials {
    config: Mutex<Arc<Config>>,
    loaded: Mutex<Fingerprints>,
    /// Cluster mode: the environment of each object's target container (by [`Scaled::key`]);
    /// objects without one read scalerd's own environment.
    envs: Mutex<HashMap<String, Arc<TargetEnv>>>,
    /// Cluster mode: the config of each object (the object and its authentications), by
    /// `namespace/name`.
    parts: Mutex<HashMap<String, Arc<Config>>>,
    file: String,
    registry: Arc<Registry>,
    client: Option<kube::Client>,
    own_namespace: String,
    /// The targets, whose workload watches tell whether a pod template's containers changed.
    targets: std::sync::OnceLock<crate::kube::KubeTargets>,
}

impl std::fmt::Debug for ConfigCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigCredentials")
            .field("file", &self.file)
            .field("own_namespace", &self.own_namespace)
            .finish_non_exhaustive()
    }
}

impl ConfigCredentials {
    /// Credentials of `config` (loaded from `file`, its triggers built with credentials of
    /// these `fingerprints`), Secrets read through `client`.
    pub fn new(
        config: Config,
        fingerprints: Fingerprints,
        file: String,
        registry: Arc<Registry>,
        client: Option<kube::Client>,
        own_namespace: String,
    ) -> Self {
        let (config, fingerprints) = rotatable(config, fingerprints);
        ConfigCredentials {
            config: Mutex::new(Arc::new(config)),
            loaded: Mutex::new(fingerprints),
            envs: Mutex::new(HashMap::new()),
            parts: Mutex::new(HashMap::new()),
            file,
            registry,
            client,
            own_namespace,
            targets: std::sync::OnceLock::new(),
        }
    }

    /// Gives the targets whose workload watches tell, on a rebuild, whether a target's pod
    /// template containers changed (then they are read again; else only the ConfigMaps and
    /// Secrets their environment refers to).
    pub fn set_targets(&self, targets: crate::kube::KubeTargets) {
        let _ = self.targets.set(targets);
    }

    /// Takes the config of a successful reload, and the fingerprints its triggers were built
    /// with.
    pub fn set_config(&self, config: Config, fingerprints: Fingerprints) {
        let (config, fingerprints) = rotatable(config, fingerprints);
        *self.config.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        *self.loaded.lock().unwrap_or_else(PoisonError::into_inner) = fingerprints;
    }

    /// Takes the config of one object from the cluster (the object and the authentications it
    /// refers to), replacing what was held for it: the part's one scaled object, or else its
    /// one scaled job (whose `*FromEnv` and `env` sources read its Job template's containers).
    ///
    /// Each object from the cluster keeps a config of its own: merging them into one made each
    /// change copy every object's (at 1,000 objects under churn, megabytes per change).
    pub fn merge(&self, part: Config, fingerprints: Fingerprints, env: Option<Arc<TargetEnv>>) {
        let key = match (part.scaled_objects.first(), part.scaled_jobs.first()) {
            (Some(o), _) => Scaled::Object(o).key(),
            (None, Some(j)) => Scaled::Job(j).key(),
            (None, None) => return,
        };
        {
            let mut envs = self.envs.lock().unwrap_or_else(PoisonError::into_inner);
            match env {
                Some(env) => envs.insert(key.clone(), env),
                None => envs.remove(&key),
            };
        }
        let mut part = part;
        // Locations only name places in a file; a config from the cluster has none.
        part.locations.clear();
        part.authentication_locations.clear();
        part.job_locations.clear();
        self.parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Arc::new(part));
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(fingerprints);
    }

    /// Forgets a scaled object from the cluster (deleted), by `namespace/name`.
    pub fn remove(&self, key: &str) {
        self.forget(key, false);
    }

    /// Forgets a scaled job from the cluster (deleted), by `namespace/name`.
    pub fn remove_job(&self, key: &str) {
        self.forget(key, true);
    }

    fn forget(&self, key: &str, job: bool) {
        let held_key = if job {
            Scaled::job_key(key)
        } else {
            key.to_owned()
        };
        self.envs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&held_key);
        self.parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&held_key);
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&held_key);
    }

    /// The config `scaled` was loaded from: its own for one from the cluster, else the file's.
    fn config_of(&self, scaled: Scaled<'_>) -> Arc<Config> {
        let own = self
            .parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&scaled.key())
            .cloned();
        own.unwrap_or_else(|| {
            self.config
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }
}

/// The part of a file's `config` that a rebuild can need, with its `fingerprints`: the scaled
/// objects and scaled jobs with a trigger that refers to an authentication (at their
/// locations), and every authentication.
///
/// The triggers of the others read only their metadata and scalerd's own environment, which
/// do not change while it runs (a reload brings new ones), so reading them again can change
/// nothing ([`Credentials::rotates`] is false for them). Holding every object cost a second
/// copy of the whole config: about 1.5 KiB per object, 45 MB at 30,000 objects.
fn rotatable(mut config: Config, mut fingerprints: Fingerprints) -> (Config, Fingerprints) {
    let refers = |triggers: &[scalers_core::config::model::TriggerSpec]| {
        triggers.iter().any(|t| t.authentication_ref.is_some())
    };
    let mut part = Config {
        authentication_locations: (0..config.authentications.len())
            .map(|i| config.authentication_location(i))
            .collect(),
        ..Config::default()
    };
    // Located as in the whole file (an object's errors keep naming its place there).
    let objects = std::mem::take(&mut config.scaled_objects);
    for (i, o) in objects.into_iter().enumerate() {
        if refers(&o.triggers) {
            part.locations.push(config.location(i));
            part.scaled_objects.push(o);
        }
    }
    let jobs = std::mem::take(&mut config.scaled_jobs);
    for (i, j) in jobs.into_iter().enumerate() {
        if refers(&j.triggers) {
            part.job_locations.push(config.job_location(i));
            part.scaled_jobs.push(j);
        }
    }
    part.authentications = config.authentications;
    let held: std::collections::HashSet<String> = part
        .scaled_objects
        .iter()
        .map(|o| Scaled::Object(o).key())
        .chain(part.scaled_jobs.iter().map(|j| Scaled::Job(j).key()))
        .collect();
    fingerprints.retain(|key, _| held.contains(key));
    // Its table was sized for every object (67 bytes each at 30,000 objects).
    fingerprints.shrink_to_fit();
    (part, fingerprints)
}

/// The part of `config` that `scaled` needs: the object or scaled job (with its location)
/// and the authentications its triggers refer to; the position of each trigger's
/// authentication in it.
fn subset(config: &Config, scaled: Scaled<'_>) -> Option<(Config, Vec<Option<usize>>)> {
    let (mut part, own) = match scaled {
        Scaled::Object(object) => {
            let index = config
                .scaled_objects
                .iter()
                .position(|o| o.key() == object.key())?;
            let own = &config.scaled_objects[index];
            let mut part = Config::new(vec![own.clone()]);
            part.locations = vec![config.location(index)];
            (part, own.clone())
        }
        Scaled::Job(job) => {
            let index = config
                .scaled_jobs
                .iter()
                .position(|j| j.key() == job.key())?;
            let own: &ScaledJob = &config.scaled_jobs[index];
            let part = Config {
                scaled_jobs: vec![own.clone()],
                job_locations: vec![config.job_location(index)],
                ..Config::default()
            };
            (part, own.trigger_host())
        }
    };
    let own = &own;
    let mut auths = Vec::new();
    for t in &own.triggers {
        let found = t
            .authentication_ref
            .as_ref()
            .and_then(|r| config.authentication_index(own, r));
        auths.push(found.map(|i| {
            match part
                .authentications
                .iter()
                .position(|a| a == &config.authentications[i])
            {
                Some(at) => at,
                None => {
                    part.authentications.push(config.authentications[i].clone());
                    part.authentication_locations
                        .push(config.authentication_location(i));
                    part.authentications.len() - 1
                }
            }
        }));
    }
    Some((part, auths))
}

#[async_trait]
impl Credentials for ConfigCredentials {
    fn loaded(&self, scaled: Scaled<'_>) -> Option<Vec<u64>> {
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&scaled.key())
            .cloned()
    }

    fn rotates(&self, scaled: Scaled<'_>) -> bool {
        let object = scaled.host();
        let object = &*object;
        let from_target = self
            .envs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&scaled.key());
        // In cluster mode `*FromEnv` parameters and `env` sources read the target's pod
        // template (a scaled job's Job template), whose references can change too.
        if from_target
            && object
                .triggers
                .iter()
                .any(|t| t.authentication_ref.is_some() || reads_env(t))
        {
            return true;
        }
        let config = self.config_of(scaled);
        object.triggers.iter().any(|t| {
            t.authentication_ref
                .as_ref()
                .and_then(|r| config.authentication_for(object, r))
                .is_some_and(|a| {
                    a.parameters
                        .iter()
                        .any(|p| !matches!(p.source, AuthSource::Env { .. }))
                })
        })
    }

    async fn rebuild(&self, scaled: Scaled<'_>) -> std::result::Result<Rebuilt, String> {
        let config = self.config_of(scaled);
        let (part, auths) = subset(&config, scaled)
            .ok_or_else(|| format!("{} is no longer in the config", scaled.key()))?;
        let object = scaled.trigger_host();
        let object = &object;
        let read = match &self.client {
            Some(c) => read_secrets(c, &part, &self.own_namespace).await,
            None => SecretValues::new(),
        };
        let mut own_env = self
            .envs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&scaled.key())
            .cloned();
        if let (Some(known), Some(client)) = (&own_env, &self.client) {
            let fresh = self.read_target_env(client, scaled, object, known).await?;
            if fresh != **known {
                let fresh = Arc::new(fresh);
                self.envs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(scaled.key(), fresh.clone());
                own_env = Some(fresh);
            }
        }
        let reader = reader(
            &read,
            self.client.is_some(),
            &self.own_namespace,
            own_env.as_deref(),
        );
        let env = |name: &str| match &own_env {
            Some(e) => e.main.get(name).cloned(),
            None => crate::process_env(name),
        };
        let mut fingerprints = Vec::with_capacity(auths.len());
        for (auth, trigger) in auths.iter().zip(&object.triggers) {
            let fingerprint = match auth {
                None => 0,
                Some(i) => {
                    let values =
                        resolve(&part.authentications[*i], &env, &reader).map_err(|es| {
                            es.iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; ")
                        })?;
                    fingerprint(values.values())
                }
            };
            fingerprints.push(with_env(fingerprint, trigger, &env));
        }
        let mut built = validate_all_with_secrets(&part, &self.registry, &self.file, &env, &reader)
            .map_err(|e| e.to_string())?;
        let triggers = match scaled {
            Scaled::Object(_) => built.objects.pop().map(|o| o.triggers),
            Scaled::Job(_) => built.jobs.pop().map(|j| j.triggers),
        }
        .ok_or_else(|| "nothing built".to_owned())?;
        Ok(Rebuilt {
            triggers,
            fingerprints,
        })
    }
}

impl ConfigCredentials {
    /// The environment of `object`'s target read again (cluster mode): its pod template's
    /// containers are read only when the workload watch does not say they are unchanged (a
    /// scaled job's Job template is part of the ScaledJob: a change of it comes as a new
    /// version); the ConfigMaps and Secrets they refer to are read again.
    async fn read_target_env(
        &self,
        client: &kube::Client,
        scaled: Scaled<'_>,
        object: &ScaledObject,
        known: &TargetEnv,
    ) -> std::result::Result<TargetEnv, String> {
        if let Scaled::Job(job) = scaled {
            let mut fresh = known.clone();
            let main = job.env_source_container_name.as_deref();
            return match crate::daemon::cluster::fill_env(client, &mut fresh, main).await {
                Ok(true) => Ok(fresh),
                Ok(false) => Err(format!(
                    "spec.envSourceContainerName: spec.jobTargetRef.template has no container {:?}",
                    main.unwrap_or_default()
                )),
                Err(e) => Err(format!("spec.jobTargetRef.template: {e}")),
            };
        }
        let hash = match self.targets.get() {
            Some(t) => {
                t.scale_target(&object.namespace, &object.scale_target_ref)
                    .containers_hash()
                    .await
            }
            None => None,
        };
        crate::daemon::cluster::target_env(
            client,
            &known.namespace,
            &known.target_ref,
            &known.wanted,
            hash.map(|h| (known, h)),
        )
        .await
        .map_err(|e| format!("spec.scaleTargetRef: {e}"))
    }
}

/// Whether a trigger reads a `*FromEnv` parameter.
pub(crate) fn reads_env(trigger: &scalers_core::config::model::TriggerSpec) -> bool {
    trigger.metadata.keys().any(|k| k.ends_with("FromEnv"))
}

/// `print` (a trigger's authentication fingerprint) with the values of the `*FromEnv`
/// parameters it reads mixed in, so that a changed variable counts as changed credentials;
/// `print` itself for a trigger without any.
fn with_env(
    print: u64,
    trigger: &scalers_core::config::model::TriggerSpec,
    env: scalers_core::trigger::EnvLookup<'_>,
) -> u64 {
    if !reads_env(trigger) {
        return print;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    print.hash(&mut h);
    for (k, v) in trigger
        .metadata
        .iter()
        .filter(|(k, _)| k.ends_with("FromEnv"))
    {
        k.hash(&mut h);
        env(v).hash(&mut h);
    }
    h.finish()
}

/// A hash of credential values, to tell whether they changed; never shown.
fn fingerprint(values: &BTreeMap<String, Secret>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (name, value) in values {
        name.hash(&mut h);
        value.expose().hash(&mut h);
    }
    h.finish()
}
