//! `scalerd status`: a running daemon's `/status`, as a table a person can read.

use crate::daemon::status::Status;
use crate::error::{Error, Result};

/// Fetches `/status` from the daemon at `url` (e.g. `http://127.0.0.1:9102`).
///
/// # Errors
/// [`Error::Fetch`] when the daemon cannot be reached or answers something else.
pub async fn fetch(url: &str) -> Result<Status> {
    let endpoint = format!("{}/status", url.trim_end_matches('/'));
    let fail = |message: String| Error::Fetch {
        url: scalers_core::secret::redact_url(&endpoint),
        message,
    };
    let response = reqwest::get(&endpoint)
        .await
        .map_err(|e| fail(e.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?;
    serde_json::from_slice(&body).map_err(|e| fail(format!("not a scalerd status: {e}")))
}

/// Renders `status` as an aligned table, one row per scaled object; with sharding, an OWNER
/// column says which replica owns each object.
pub fn render(status: &Status) -> String {
    let sharded = status.sharding.is_some();
    let mut header = vec!["OBJECT", "TARGET"];
    if sharded {
        header.push("OWNER");
    }
    header.extend(["REPLICAS", "ACTIVE", "TRIGGER", "REASON", "LAST ERROR"]);
    let rows: Vec<Vec<String>> = status
        .objects
        .iter()
        .map(|o| {
            let replicas = match (o.current_replicas, o.desired_replicas) {
                (Some(c), Some(d)) if c == d => c.to_string(),
                (Some(c), Some(d)) => format!("{c} -> {d}"),
                _ => "-".to_owned(),
            };
            let decision = o.decision.as_ref();
            let mut row = vec![o.scaled_object.clone(), o.target.clone()];
            if sharded {
                row.push(o.owner.clone().unwrap_or_else(|| "-".to_owned()));
            }
            row.extend([
                replicas,
                o.active.map_or("-".to_owned(), |a| a.to_string()),
                decision
                    .and_then(|d| d.winning_metric.clone())
                    .unwrap_or_else(|| "-".to_owned()),
                decision.map_or_else(|| o.state.as_str().to_owned(), |d| d.reason.clone()),
                o.last_error.clone().unwrap_or_else(|| "-".to_owned()),
            ]);
            row
        })
        .collect();
    let mut out = table(&header, &rows);
    if !status.jobs.is_empty() {
        let header = [
            "SCALED JOB",
            "RUNNING",
            "PENDING",
            "CREATED",
            "ACTIVE",
            "REASON",
            "LAST ERROR",
        ];
        let rows: Vec<Vec<String>> = status
            .jobs
            .iter()
            .map(|j| {
                vec![
                    j.scaled_job.clone(),
                    j.running.to_string(),
                    j.pending.to_string(),
                    j.created_total.to_string(),
                    j.active.map_or("-".to_owned(), |a| a.to_string()),
                    match (&j.decision, j.paused) {
                        (_, true) => "paused".to_owned(),
                        (Some(d), false) => d.explanation.clone(),
                        (None, false) => j.state.as_str().to_owned(),
                    },
                    j.last_error.clone().unwrap_or_else(|| "-".to_owned()),
                ]
            })
            .collect();
        out.push_str(&table(&header, &rows));
    }
    let mode = match (status.dry_run, status.leader, &status.sharding) {
        (true, _, _) => " (dry run)".to_owned(),
        (false, _, Some(sh)) => format!(
            " (sharded: {} holds {} of {} shards, {} replica(s))",
            sh.identity,
            sh.held.len(),
            sh.shards,
            sh.members.len()
        ),
        (false, false, None) => " (standby)".to_owned(),
        (false, true, None) => String::new(),
    };
    let jobs = if status.jobs.is_empty() {
        String::new()
    } else {
        format!(", {} scaled job(s)", status.jobs.len())
    };
    out.push_str(&format!(
        "{} scaled object(s){jobs} from {}{mode}\n",
        status.objects.len(),
        status.config_file
    ));
    out
}

/// An aligned table of `rows` under `header`.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let last = cells.len() - 1;
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out.push('\n');
    };
    line(header);
    for r in rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        line(&cells);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::{DecisionStatus, ObjectStatus};

    #[test]
    fn renders_aligned_rows() {
        let status = Status {
            dry_run: true,
            leader: true,
            config_file: "app.yaml".into(),
            last_reload: None,
            sharding: None,
            objects: vec![ObjectStatus {
                scaled_object: "shop/orders".into(),
                target: "Deployment/orders".into(),
                state: crate::daemon::status::LoopState::Running,
                current_replicas: Some(2),
                desired_replicas: Some(5),
                active: Some(true),
                decision: Some(DecisionStatus {
                    reason: "queue proposes 5".into(),
                    winning_metric: Some("queue".into()),
                    ..DecisionStatus::default()
                }),
                ..ObjectStatus::default()
            }],
            jobs: Vec::new(),
        };
        assert_eq!(
            render(&status),
            "OBJECT       TARGET             REPLICAS  ACTIVE  TRIGGER  REASON            LAST ERROR\n\
             shop/orders  Deployment/orders  2 -> 5    true    queue    queue proposes 5  -\n\
             1 scaled object(s) from app.yaml (dry run)\n"
        );
    }

    #[test]
    fn shows_the_owner_of_each_object_when_sharded() {
        let object = |name: &str, owner: Option<&str>| ObjectStatus {
            scaled_object: format!("shop/{name}"),
            target: format!("Deployment/{name}"),
            state: crate::daemon::status::LoopState::Standby,
            shard: Some(3),
            owner: owner.map(str::to_owned),
            ..ObjectStatus::default()
        };
        let status = Status {
            leader: true,
            config_file: "cluster".into(),
            sharding: Some(crate::daemon::status::ShardingStatus {
                identity: "scalerd-a".into(),
                shards: 32,
                held: vec![3, 4],
                members: vec!["scalerd-a".into(), "scalerd-b".into()],
            }),
            objects: vec![object("a", Some("scalerd-b")), object("b", None)],
            ..Status::default()
        };
        assert_eq!(
            render(&status),
            "OBJECT  TARGET        OWNER      REPLICAS  ACTIVE  TRIGGER  REASON   LAST ERROR\n\
             shop/a  Deployment/a  scalerd-b  -         -       -        standby  -\n\
             shop/b  Deployment/b  -          -         -       -        standby  -\n\
             2 scaled object(s) from cluster (sharded: scalerd-a holds 2 of 32 shards, 2 replica(s))\n"
        );
    }

    #[test]
    fn renders_scaled_jobs_below_the_objects() {
        let status = Status {
            leader: true,
            config_file: "app.yaml".into(),
            jobs: vec![crate::daemon::status::JobStatus {
                scaled_job: "media/images".into(),
                running: 5,
                pending: 1,
                created_total: 7,
                active: Some(true),
                decision: Some(crate::daemon::status::JobDecisionStatus {
                    explanation: "queue 10; maxScale 5; default: 5 - 5 running = 0; create 0"
                        .into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Status::default()
        };
        assert_eq!(
            render(&status),
            "OBJECT  TARGET  REPLICAS  ACTIVE  TRIGGER  REASON  LAST ERROR\n\
             SCALED JOB    RUNNING  PENDING  CREATED  ACTIVE  REASON                                                      LAST ERROR\n\
             media/images  5        1        7        true    queue 10; maxScale 5; default: 5 - 5 running = 0; create 0  -\n\
             0 scaled object(s), 1 scaled job(s) from app.yaml\n"
        );
    }
}
