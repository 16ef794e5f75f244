//! A `RecordRequestLogs` request as the domain's [`LogBatch`]: entries sent one message
//! each (`logs`) and in columns (`columns`), every index and column length checked.

use super::validation::time_or_now;
use crate::domain::request_log::{BatchBuilder, LogBatch, NewLog};
use chrono::DateTime;
use crm_platform::error::ApiError;
use crm_proto::auth as pb;

/// The request's entries: `logs` first, then `columns`.
pub fn batch_of(request: pb::RecordRequestLogsRequest) -> Result<LogBatch, ApiError> {
    let mut batch = from_messages(request.logs)?;
    if let Some(columns) = request.columns {
        let more = from_columns(columns)?;
        let offset = batch.texts.len() as u32;
        batch.texts.extend(more.texts);
        batch.entries.extend(more.entries.into_iter().map(|mut e| {
            for i in [
                &mut e.workspace_id,
                &mut e.api_key_id,
                &mut e.method,
                &mut e.endpoint,
                &mut e.request_ip,
                &mut e.user_agent,
                &mut e.request_id,
            ] {
                *i += offset;
            }
            e
        }));
    }
    Ok(batch)
}

fn from_messages(logs: Vec<pb::RequestLog>) -> Result<LogBatch, ApiError> {
    let mut b = BatchBuilder::default();
    for l in logs {
        let timestamp = time_or_now(l.timestamp.as_ref(), "timestamp")?;
        let entry = NewLog {
            workspace_id: b.text(&l.workspace_id),
            api_key_id: b.text(&l.api_key_id),
            method: b.text(&l.method),
            endpoint: b.text(&l.endpoint),
            request_ip: b.text(&l.request_ip),
            user_agent: b.text(&l.user_agent),
            request_id: b.text(&l.request_id),
            status_code: l.status_code,
            response_time_ms: l.response_time_ms,
            request_size: l.request_size,
            response_size: l.response_size,
            timestamp,
        };
        b.push(entry);
    }
    Ok(b.finish())
}

fn from_columns(c: pb::RequestLogColumns) -> Result<LogBatch, ApiError> {
    let n = c.api_key_id.len();
    let lengths = [
        ("columns.workspace_id", c.workspace_id.len()),
        ("columns.method", c.method.len()),
        ("columns.endpoint", c.endpoint.len()),
        ("columns.request_ip", c.request_ip.len()),
        ("columns.user_agent", c.user_agent.len()),
        ("columns.request_id", c.request_id.len()),
        ("columns.status_code", c.status_code.len()),
        ("columns.response_time_ms", c.response_time_ms.len()),
        ("columns.request_size", c.request_size.len()),
        ("columns.response_size", c.response_size.len()),
        ("columns.timestamp_ms", c.timestamp_ms.len()),
    ];
    if let Some((field, len)) = lengths.into_iter().find(|(_, len)| *len != n) {
        return Err(ApiError::invalid_field(
            field,
            format!("has {len} values where columns.api_key_id has {n}"),
        ));
    }
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let timestamp = DateTime::from_timestamp_millis(c.timestamp_ms[i]).ok_or_else(|| {
            ApiError::invalid_field("columns.timestamp_ms", "is not a valid time")
        })?;
        entries.push(NewLog {
            workspace_id: c.workspace_id[i],
            api_key_id: c.api_key_id[i],
            method: c.method[i],
            endpoint: c.endpoint[i],
            request_ip: c.request_ip[i],
            user_agent: c.user_agent[i],
            request_id: c.request_id[i],
            status_code: c.status_code[i],
            response_time_ms: c.response_time_ms[i],
            request_size: c.request_size[i],
            response_size: c.response_size[i],
            timestamp,
        });
    }
    let batch = LogBatch {
        texts: c.texts.into_iter().map(Into::into).collect(),
        entries,
    };
    if !batch.names_only_its_texts() {
        return Err(ApiError::invalid_field(
            "columns",
            "an entry names a text index past the end of columns.texts",
        ));
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(entries: usize, texts: usize) -> pb::RequestLogColumns {
        let zeros = vec![0u32; entries];
        pb::RequestLogColumns {
            texts: (0..texts).map(|i| format!("t{i}")).collect(),
            workspace_id: zeros.clone(),
            api_key_id: zeros.clone(),
            method: zeros.clone(),
            endpoint: zeros.clone(),
            request_ip: zeros.clone(),
            user_agent: zeros.clone(),
            request_id: zeros.clone(),
            status_code: vec![200; entries],
            response_time_ms: zeros,
            request_size: vec![0; entries],
            response_size: vec![0; entries],
            timestamp_ms: vec![1_764_590_000_000; entries],
        }
    }

    fn message(key: &str) -> pb::RequestLog {
        pb::RequestLog {
            api_key_id: key.into(),
            method: "GET".into(),
            ..Default::default()
        }
    }

    fn field_of(e: ApiError) -> String {
        format!("{e:?}")
    }

    #[test]
    fn messages_and_columns_make_one_batch() {
        let mut c = columns(2, 2);
        c.api_key_id = vec![1, 0];
        let batch = batch_of(pb::RecordRequestLogsRequest {
            logs: vec![message("a"), message("b")],
            columns: Some(c),
        })
        .unwrap();
        assert_eq!(batch.entries.len(), 4);
        assert!(batch.names_only_its_texts());
        let key = |i: usize| &*batch.texts[batch.entries[i].api_key_id as usize];
        assert_eq!([key(0), key(1), key(2), key(3)], ["a", "b", "t1", "t0"]);
    }

    #[test]
    fn columns_of_other_lengths_or_unknown_texts_are_refused_by_name() {
        let mut c = columns(3, 1);
        c.user_agent.pop();
        let e = from_columns(c).err().expect("refused");
        assert!(field_of(e).contains("columns.user_agent"));
        let mut c = columns(3, 1);
        c.endpoint[2] = 1;
        let e = from_columns(c).err().expect("refused");
        assert!(field_of(e).contains("columns.texts"));
        let mut c = columns(1, 1);
        c.timestamp_ms[0] = i64::MAX;
        let e = from_columns(c).err().expect("refused");
        assert!(field_of(e).contains("columns.timestamp_ms"));
    }
}
