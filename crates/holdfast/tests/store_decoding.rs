//! Randomized decoding: rows a damaged or hand-edited PostgreSQL table
//! could hold (PostgreSQL has no per-record checksum of ours), read back
//! through the store. Each read gives exactly what the row holds, or a
//! corruption error naming the job; never a panic, never progress altered
//! on the way. Needs HOLDFAST_TEST_POSTGRES_URL (fails without it).

use holdfast::store::{PostgresOptions, Store, StoreError, StoreOptions};

struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Steps text: valid arrays, arrays mutated a character at a time, and
    /// other JSON.
    fn steps(&mut self) -> String {
        const VALID: [&str; 5] = [
            "[]",
            r#"["download"]"#,
            r#"["a","b \"quoted\"","é"]"#,
            r#"["x\u0000y"]"#,
            r#"["\ud83d\ude00"]"#,
        ];
        const ALPHABET: &[char] = &[
            '[',
            ']',
            '"',
            ',',
            '\\',
            'u',
            '0',
            'a',
            '{',
            '}',
            ':',
            ' ',
            '1',
            'n',
            'é',
            '\u{1F600}',
        ];
        let mut text: Vec<char> = VALID[self.below(VALID.len() as u64) as usize]
            .chars()
            .collect();
        for _ in 0..self.below(4) {
            let c = ALPHABET[self.below(ALPHABET.len() as u64) as usize];
            let at = self.below(text.len() as u64 + 1) as usize;
            match self.below(3) {
                0 if at < text.len() => text[at] = c,
                1 if at < text.len() => {
                    text.remove(at);
                }
                _ => text.insert(at, c),
            }
        }
        text.into_iter().collect()
    }

    fn integer(&mut self) -> i64 {
        [0, 1, 2, 7, -1, i64::MIN, i64::MAX][self.below(7) as usize]
    }
}

#[test]
fn random_rows_read_back_exactly_or_as_corruption_naming_the_job() {
    let url = std::env::var("HOLDFAST_TEST_POSTGRES_URL")
        .expect("HOLDFAST_TEST_POSTGRES_URL is not set: run bin/test, or start bin/test-postgres");
    let table = format!("holdfast_decoding_{}", std::process::id());
    let pg = PostgresOptions {
        table: table.clone(),
        ..PostgresOptions::default()
    };
    let store = Store::postgres(&url, &pg, StoreOptions::default()).unwrap();
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut random = Random(0x0dec_0de5_eed1);
    let (mut exact, mut refused) = (0, 0);
    for i in 0..400 {
        let job_id = format!("row-{i}");
        let steps = random.steps();
        let step: Option<&str> = [None, Some("import"), Some("")][random.below(3) as usize];
        let cursor: Option<Vec<u8>> = match random.below(3) {
            0 => None,
            _ => Some((0..random.below(40)).map(|_| random.next() as u8).collect()),
        };
        let (resumptions, token) = (random.integer(), random.integer());
        admin
            .execute(
                &format!(
                    "INSERT INTO {table} (job_id, job_class, completed_steps, current_step, cursor,
                       resumptions, token, created_at, updated_at, completed_at)
                     VALUES ($1, 'Job', $2, $3, $4, $5, $6, 1, 2, NULL)"
                ),
                &[&job_id, &steps, &step, &cursor, &resumptions, &token],
            )
            .unwrap();
        match store.get(&job_id) {
            Ok(Some(record)) => {
                let parsed: Vec<String> = serde_json::from_str(&steps).unwrap_or_else(|_| {
                    panic!("{steps:?} was accepted but is not a list of strings")
                });
                assert_eq!(record.progress.completed, parsed);
                assert_eq!(record.token as i64, token);
                assert!(token >= 1);
                assert_eq!(record.resumptions as i64, resumptions);
                let current = record.progress.current.as_ref();
                assert_eq!(current.map(|c| c.step.as_str()), step);
                assert_eq!(current.and_then(|c| c.cursor.clone()), cursor);
                exact += 1;
            }
            Ok(None) => panic!("{job_id} was inserted but not found"),
            Err(StoreError::Corrupt {
                job_id: Some(named),
                ..
            }) => {
                assert_eq!(named, job_id);
                refused += 1;
            }
            Err(other) => panic!("{job_id}: not a corruption error: {other}"),
        }
    }
    admin.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    eprintln!("400 random rows: {exact} read back exactly, {refused} refused as corrupt");
    assert!(
        exact > 20 && refused > 20,
        "{exact} exact, {refused} refused"
    );
}
