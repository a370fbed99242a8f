//! What a change may touch: the reserved keys only the server writes, and the lists a scoped
//! peer (a guest editor, a commenter) may add to. Judged on the change's operations, not on
//! the visible diff.

use automerge::{ActorId, Automerge, Change, ReadDoc};

use super::UserKey;

/// Where an operation's target object sits: the object, its chain of parents up to the root,
/// and the top-level key it is under (empty for the root itself or a list at the top).
/// `None` when the target is unknown.
fn place(
    doc: &Automerge,
    target: &str,
) -> Option<(automerge::ObjId, Vec<automerge::Parent>, String)> {
    use automerge::{ObjId, Prop};
    let obj = doc.import_obj(target).ok()?;
    if obj == ObjId::Root {
        return Some((obj, Vec::new(), String::new()));
    }
    // The chain from the target up to the root: the last step names the top-level key.
    let chain: Vec<_> = doc.parents(&obj).ok()?.collect();
    let top = match chain.last() {
        Some(p) if p.obj == ObjId::Root => match &p.prop {
            Prop::Map(k) => k.clone(),
            Prop::Seq(_) => String::new(),
        },
        _ => String::new(),
    };
    Some((obj, chain, top))
}

/// `Err(key)` if one of the `fresh` changes touches a reserved top-level key (an operation on an
/// object under it, or one putting or deleting the key itself on the root).
pub(super) fn untouched(
    doc: &Automerge,
    fresh: &[Change],
    reserved: &[String],
) -> Result<(), String> {
    if reserved.is_empty() {
        return Ok(());
    }
    for change in fresh {
        for op in change.decode().operations {
            let target = op.obj.to_string();
            let top = if target == "_root" {
                match &op.key {
                    automerge::legacy::Key::Map(k) => k.to_string(),
                    automerge::legacy::Key::Seq(_) => continue,
                }
            } else {
                match place(doc, &target) {
                    Some((_, _, top)) => top,
                    // An object that cannot be placed could be under a reserved key: refused.
                    None => return Err(reserved[0].clone()),
                }
            };
            if let Some(key) = reserved.iter().find(|k| **k == top) {
                return Err(key.clone());
            }
        }
    }
    Ok(())
}

/// Whether every operation of the `fresh` changes lies inside one of the top-level
/// `lists`, and inside an element `user` created: a scoped peer may insert new elements into
/// those lists and edit the elements it made, nothing else — not the document's root, not
/// another element (another council's comment, another partner's measurement), not the list
/// itself (no deleting or replacing an element). Checked on the operations themselves, not on
/// the visible diff, so a change that shows nothing (a conflict loser, a write into a deleted
/// object) is judged too. The message names the first place at fault.
pub(super) fn within(
    doc: &Automerge,
    fresh: &[Change],
    lists: &[String],
    user: UserKey,
    owner: &dyn Fn(&ActorId) -> Option<UserKey>,
) -> Result<(), String> {
    use automerge::ObjId;
    let only = || {
        format!(
            "you may only add to {} in this document",
            if lists.is_empty() {
                "nothing".to_owned()
            } else {
                lists.join(", ")
            }
        )
    };
    for change in fresh {
        for op in change.decode().operations {
            let Some((obj, chain, top)) = place(doc, &op.obj.to_string()) else {
                return Err(only());
            };
            if obj == ObjId::Root {
                return Err(format!("{}, not change its top level", only()));
            }
            if !lists.contains(&top) {
                return Err(format!(
                    "{}, not change {}",
                    only(),
                    if top.is_empty() {
                        "its structure"
                    } else {
                        &top
                    }
                ));
            }
            let element = match chain.len() {
                // An operation on the list itself: only inserting a new element.
                1 if op.insert => continue,
                1 => {
                    return Err(format!(
                        "{}: removing or replacing an entry of {top} is refused",
                        only()
                    ));
                }
                2 => &obj,
                n => &chain[n - 3].obj,
            };
            let made_by = match element {
                ObjId::Id(_, actor, _) => owner(actor),
                ObjId::Root => None,
            };
            if made_by != Some(user) {
                return Err(format!(
                    "{}: you may change only the entries of {top} you added",
                    only()
                ));
            }
        }
    }
    Ok(())
}
