//! The floor under the many-documents scenario: what its frames alone cost a server on this
//! machine, with the same stack Concordat serves them on (tokio, axum's websocket, tungstenite)
//! and nothing else — no documents, no automerge, no storage, no authorisation.
//!
//! `concordat-bench floor-server` relays: a reader connects and names its pair; a writer names
//! the same pair, and each frame it sends is passed to that reader and answered with a short
//! acknowledgement; the reader answers each frame it gets with a short acknowledgement of its
//! own, which the relay reads and drops. Per edit that is what a sync server handles per edit
//! between one writer and one reader: two frames read, two written, one hand-off between
//! connections. The load is the many-documents scenario's (pairs, one edit a second each,
//! spread over the second); the figure to read is the relay's CPU per edit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::scenarios::{Figure, cpu_figures, percentile};
use crate::targets::{Target, cpu_time};

/// Size of an edit's frame (a sync message carrying one small change is about this) and of an
/// acknowledgement (a sync message carrying heads only).
const EDIT_BYTES: usize = 160;
const ACK_BYTES: usize = 80;

type Readers = Arc<Mutex<HashMap<u32, mpsc::UnboundedSender<Vec<u8>>>>>;

/// The relay (a process of its own, so its CPU time is its own).
pub async fn serve(port: u16) -> Result<()> {
    use axum::extract::State;
    use axum::extract::ws::WebSocketUpgrade;
    use axum::routing::get;

    let readers: Readers = Arc::default();
    let app = axum::Router::new()
        .route(
            "/",
            get(
                |State(readers): State<Readers>, ws: WebSocketUpgrade| async move {
                    ws.read_buffer_size(1024)
                        .write_buffer_size(0)
                        .on_upgrade(move |socket| relay(socket, readers))
                },
            ),
        )
        .with_state(readers);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn relay(mut socket: axum::extract::ws::WebSocket, readers: Readers) {
    use axum::extract::ws::Message;
    // The first frame: role (0 writer, 1 reader) and pair, little-endian.
    let Some(Ok(Message::Binary(hello))) = socket.recv().await else {
        return;
    };
    if hello.len() != 5 {
        return;
    }
    let pair = u32::from_le_bytes([hello[1], hello[2], hello[3], hello[4]]);
    if hello[0] == 1 {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        readers.lock().expect("readers").insert(pair, tx);
        if socket.send(Message::Binary(vec![1].into())).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                frame = socket.recv() => match frame {
                    Some(Ok(Message::Binary(_))) => {} // an acknowledgement: read, dropped
                    Some(Ok(_)) => {}
                    _ => break,
                },
                out = rx.recv() => match out {
                    Some(bytes) => if socket.send(Message::Binary(bytes.into())).await.is_err() {
                        break;
                    },
                    None => break,
                },
            }
        }
        readers.lock().expect("readers").remove(&pair);
    } else {
        if socket.send(Message::Binary(vec![1].into())).await.is_err() {
            return;
        }
        let ack = vec![0u8; ACK_BYTES];
        while let Some(Ok(frame)) = socket.recv().await {
            let Message::Binary(bytes) = frame else {
                continue;
            };
            let reader = readers.lock().expect("readers").get(&pair).cloned();
            if let Some(reader) = reader {
                let _ = reader.send(bytes.to_vec());
            }
            if socket
                .send(Message::Binary(ack.clone().into()))
                .await
                .is_err()
            {
                break;
            }
        }
    }
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(port: u16, role: u8, pair: u32) -> Result<Client> {
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(
        format!("ws://127.0.0.1:{port}/"),
        Some(config),
        true,
    )
    .await
    .context("websocket connect")?;
    let mut hello = vec![role];
    hello.extend_from_slice(&pair.to_le_bytes());
    ws.send(Ws::Binary(hello.into())).await?;
    match ws.next().await {
        Some(Ok(Ws::Binary(b))) if b.as_ref() == [1] => Ok(ws),
        other => bail!("relay did not welcome the client: {other:?}"),
    }
}

/// The many-documents load against the relay `t`: `pairs` writers each sending one frame a
/// second for `secs` seconds to their reader.
pub async fn load(t: &Target, pairs: usize, secs: u64, out: &mut Vec<Figure>) -> Result<()> {
    let name = format!("frames only ({pairs} × writer+reader, 1/s each)");
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut opening = Vec::new();
    for pair in 0..pairs as u32 {
        let (gate, port) = (gate.clone(), t.port);
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let r = connect(port, 1, pair).await?;
            let w = connect(port, 0, pair).await?;
            anyhow::Ok((w, r))
        }));
    }
    let mut set = Vec::new();
    for o in opening {
        set.push(o.await??);
    }
    let epoch = Instant::now();
    let cpu_server = cpu_time(t.pid());
    let cpu_me = cpu_time(std::process::id());
    let deadline = Duration::from_secs(secs + 15);
    let mut handles = Vec::new();
    for (k, (mut w, mut r)) in set.into_iter().enumerate() {
        let offset = Duration::from_micros((k as u64 * 1_000_000) / pairs as u64);
        let writer = tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut acked = 0u64;
            for _ in 0..secs {
                tick.tick().await;
                let mut frame = vec![0u8; EDIT_BYTES];
                let at = epoch.elapsed().as_micros() as u64;
                frame[..8].copy_from_slice(&at.to_le_bytes());
                w.send(Ws::Binary(frame.into())).await?;
                match tokio::time::timeout(deadline, w.next()).await {
                    Ok(Some(Ok(Ws::Binary(_)))) => acked += 1,
                    other => bail!("no acknowledgement: {other:?}"),
                }
            }
            let _ = w.close(None).await;
            anyhow::Ok(acked)
        });
        let reader = tokio::spawn(async move {
            let mut lat = Vec::new();
            let ack = vec![0u8; ACK_BYTES];
            while (lat.len() as u64) < secs {
                match tokio::time::timeout(deadline, r.next()).await {
                    Ok(Some(Ok(Ws::Binary(b)))) if b.len() >= 8 => {
                        let at = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
                        lat.push(epoch.elapsed().saturating_sub(Duration::from_micros(at)));
                        r.send(Ws::Binary(ack.clone().into())).await?;
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            let _ = r.close(None).await;
            anyhow::Ok(lat)
        });
        handles.push((writer, reader));
    }
    let mut lat = Vec::new();
    for (w, r) in handles {
        w.await??;
        lat.extend(r.await??);
    }
    let server = cpu_time(t.pid()).saturating_sub(cpu_server);
    let me = cpu_time(std::process::id()).saturating_sub(cpu_me);
    cpu_figures(&name, server, me, epoch.elapsed(), out);
    let edits = lat.len().max(1) as f64;
    let per_edit = server.as_secs_f64() * 1000.0 / edits;
    out.push(Figure::num(
        &format!("{name}: server CPU per edit"),
        per_edit,
        format!("{per_edit:.3} ms"),
    ));
    lat.sort();
    let p99 = percentile(&lat, 0.99);
    out.push(Figure::num(
        &format!("{name}: delivered"),
        lat.len() as f64,
        format!("{} of {}", lat.len(), pairs as u64 * secs),
    ));
    out.push(Figure::num(
        &format!("{name}: p99"),
        p99.as_secs_f64() * 1000.0,
        format!("{:.1} ms", p99.as_secs_f64() * 1000.0),
    ));
    Ok(())
}
