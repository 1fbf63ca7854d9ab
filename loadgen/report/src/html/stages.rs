//! The seed's scaling path as a row of stage boxes (HTML/CSS, drawn by the template), with the
//! stage this run used and the recommended next one highlighted.

use serde::Serialize;

use loadgen_model::timeline::Recommendation;
use loadgen_model::Stage;

/// One box of the diagram.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StageView {
    pub id: String,
    pub title: String,
    /// This run's stage.
    pub current: bool,
    /// The recommended next stage (may equal the current one: nothing to change).
    pub next: bool,
    /// CSS classes: `stage` plus `current`, `next`, `done` (before the current one).
    pub class: String,
}

/// The stage a run used: the recommendation's, else the profile's `stage = "…"`, else the
/// profile name when it is a stage id (`single-box` is `start`).
pub fn current_stage(
    recommendation: Option<&Recommendation>,
    profile_text: Option<&str>,
    profile: Option<&str>,
) -> Option<String> {
    if let Some(r) = recommendation {
        return Some(r.current_stage.clone());
    }
    let from_text = profile_text
        .and_then(|t| toml::from_str::<toml::Table>(t).ok())
        .and_then(|t| t.get("stage").and_then(|s| s.as_str()).map(str::to_string));
    from_text.or_else(|| {
        let profile = profile?;
        Stage::ALL.into_iter().find(|s| s.profile() == profile).map(|s| s.id().to_string())
    })
}

/// The diagram's boxes, in the seed's order.
pub fn stage_path(current: Option<&str>, next: Option<&str>) -> Vec<StageView> {
    let current_stage = current.and_then(Stage::parse);
    Stage::ALL
        .into_iter()
        .map(|stage| {
            let (id, title) = (stage.id(), stage.title());
            let is_current = current == Some(id);
            let is_next = next == Some(id);
            let mut class = String::from("stage");
            if current_stage.is_some_and(|c| stage < c) {
                class.push_str(" done");
            }
            if is_current {
                class.push_str(" current");
            }
            if is_next {
                class.push_str(" next");
            }
            StageView { id: id.to_string(), title: title.to_string(), current: is_current, next: is_next, class }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_current_and_next() {
        let path = stage_path(Some("users-plus"), Some("users-plus-plus"));
        assert_eq!(path.len(), 6);
        assert_eq!(path[0].class, "stage done");
        assert!(path[1].current && !path[1].next);
        assert!(path[2].next && path[2].class.contains("next"));
        assert!(path[3..].iter().all(|s| !s.current && !s.next));
    }

    #[test]
    fn current_stage_falls_back_to_the_profile() {
        assert_eq!(
            current_stage(None, Some("name = \"x\"\nstage = \"users-plus\"\n"), None).as_deref(),
            Some("users-plus")
        );
        assert_eq!(current_stage(None, None, Some("single-box")).as_deref(), Some("start"));
        assert_eq!(current_stage(None, Some("not toml ["), Some("users-plus")).as_deref(), Some("users-plus"));
        assert_eq!(current_stage(None, None, Some("custom")), None);
    }
}
