"""Business prompts in eight languages for the independent corpus (``independent_corpus.py``).

Each language has two disjoint template sets: ``TUNE`` (the split recognizers may be
tuned on) and ``TEST`` (never looked at while tuning). Placeholders, filled from Faker's
locale providers and presidio-evaluator's people data:

- personal data (labelled): ``{person}`` full name, ``{first}`` given name, ``{last}``
  surname, ``{card}`` payment card, ``{iban}``, ``{ssn}`` US SSN, ``{cnid}`` Chinese
  resident ID, ``{phone}``, ``{email}``, ``{address}`` street address;
- ordinary data (not labelled): ``{company}``, ``{city}``, ``{amount}``, ``{date}``,
  ``{num}``, ``{pct}``, ``{sentence}`` (Faker's lorem text in the language), ``{year}``.

Salutations are written in the templates themselves (``Herr {last}``), as a writer
would. English sensitive prompts come from presidio-evaluator's own templates
(``bench/data/presidio_evaluator/templates.txt``), odd lines for the test split, even
lines for tuning.
"""

from __future__ import annotations

LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "zh", "ja")

LOCALE = {
    "en": "en_US",
    "de": "de_DE",
    "fr": "fr_FR",
    "es": "es_ES",
    "it": "it_IT",
    "nl": "nl_NL",
    "zh": "zh_CN",
    "ja": "ja_JP",
}

# -- prompts with personal or payment data ------------------------------------------

SENSITIVE: dict[str, dict[str, tuple[str, ...]]] = {
    "de": {
        "TUNE": (
            "Bitte prüfen Sie die Überweisung von {person} an die IBAN {iban}.",
            "Sehr geehrte Frau {last}, Ihre neue Karte {card} ist unterwegs.",
            "Kunde {person} hat seine Anschrift geändert: {address}.",
            "Rückruf an {person} unter {phone} wegen des Kreditantrags.",
            "Die Kontoinhaberin {person} ({email}) bittet um einen Kontoauszug.",
            "Hallo Herr {last}, wir haben Ihre Nachricht erhalten.",
            "Bitte sperren Sie die Kreditkarte {card} sofort.",
            "Neue Lieferadresse für {person}: {address}",
        ),
        "TEST": (
            "Fasse die Beschwerde von {person} zusammen: die Gutschrift auf {iban} fehlt seit {date}.",
            "Schreibe eine Antwort an Herrn {last} wegen der gesperrten Karte {card}.",
            "Die Kundin {person} wohnt jetzt in {address} und bittet um neue Unterlagen.",
            "Erstelle eine Notiz: {person} hat am {date} angerufen, Rückrufnummer {phone}.",
            "Bitte die E-Mail-Adresse von {person} auf {email} ändern.",
            "Liebe Frau {last}, vielen Dank für Ihre Anfrage zum Ratenkredit über {amount}.",
            "Prüfe, ob die Lastschrift vom Konto {iban} zurückgegeben wurde.",
            "Die Karte {card} wurde in {city} abgelehnt, bitte Grund nennen.",
            "Übersetze ins Englische: Herr {person} bittet um Stundung der Rate.",
            "Vertragspartner: {person}, {address}, Telefon {phone}.",
            "Formuliere eine Mahnung an {person}, offener Betrag {amount}.",
            "Mit freundlichen Grüßen\n{person}\nFiliale {city}\n{phone}",
        ),
    },
    "fr": {
        "TUNE": (
            "Merci de vérifier le virement de {person} vers l'IBAN {iban}.",
            "Madame {last}, votre nouvelle carte {card} a été expédiée.",
            "Le client {person} a changé d'adresse : {address}.",
            "Rappeler {person} au {phone} au sujet du prêt immobilier.",
            "La titulaire {person} ({email}) demande un relevé de compte.",
            "Bonjour M. {last}, nous avons bien reçu votre message.",
            "Veuillez bloquer la carte {card} immédiatement.",
            "Nouvelle adresse de livraison pour {person} : {address}",
        ),
        "TEST": (
            "Résume la réclamation de {person} : le virement sur {iban} n'est pas arrivé depuis le {date}.",
            "Rédige une réponse à M. {last} concernant la carte bloquée {card}.",
            "La cliente {person} habite désormais au {address} et demande de nouveaux documents.",
            "Note d'appel : {person} a appelé le {date}, numéro de rappel {phone}.",
            "Merci de remplacer l'adresse e-mail de {person} par {email}.",
            "Chère Madame {last}, merci pour votre demande de crédit de {amount}.",
            "Vérifie si le prélèvement sur le compte {iban} a été rejeté.",
            "La carte {card} a été refusée à {city}, indique la raison.",
            "Traduis en anglais : Monsieur {person} demande un report d'échéance.",
            "Contrepartie : {person}, {address}, téléphone {phone}.",
            "Rédige une lettre de relance pour {person}, montant dû {amount}.",
            "Cordialement,\n{person}\nAgence de {city}\n{phone}",
        ),
    },
    "es": {
        "TUNE": (
            "Por favor revise la transferencia de {person} a la cuenta {iban}.",
            "Estimada Sra. {last}, su nueva tarjeta {card} está en camino.",
            "El cliente {person} ha cambiado su domicilio: {address}.",
            "Llamar a {person} al {phone} por la solicitud de hipoteca.",
            "La titular {person} ({email}) solicita un extracto.",
            "Hola Sr. {last}, hemos recibido su mensaje.",
            "Bloquee la tarjeta {card} de inmediato.",
            "Nueva dirección de envío para {person}: {address}",
        ),
        "TEST": (
            "Resume la queja de {person}: el abono en {iban} no ha llegado desde el {date}.",
            "Redacta una respuesta al Sr. {last} sobre la tarjeta bloqueada {card}.",
            "La clienta {person} vive ahora en {address} y pide nuevos documentos.",
            "Nota de llamada: {person} llamó el {date}, número de contacto {phone}.",
            "Cambia el correo electrónico de {person} a {email}.",
            "Estimada señora {last}, gracias por su solicitud de préstamo de {amount}.",
            "Comprueba si el recibo domiciliado en la cuenta {iban} fue devuelto.",
            "La tarjeta {card} fue rechazada en {city}, explica el motivo.",
            "Traduce al inglés: Don {person} pide aplazar la cuota.",
            "Contraparte: {person}, {address}, teléfono {phone}.",
            "Escribe un recordatorio de pago para {person}, importe pendiente {amount}.",
            "Atentamente,\n{person}\nOficina de {city}\n{phone}",
        ),
    },
    "it": {
        "TUNE": (
            "Verifica il bonifico di {person} verso l'IBAN {iban}.",
            "Gentile Sig.ra {last}, la sua nuova carta {card} è in spedizione.",
            "Il cliente {person} ha cambiato indirizzo: {address}.",
            "Richiamare {person} al {phone} per la pratica di mutuo.",
            "L'intestatario {person} ({email}) chiede un estratto conto.",
            "Buongiorno Sig. {last}, abbiamo ricevuto il suo messaggio.",
            "Blocca subito la carta {card}.",
            "Nuovo indirizzo di spedizione per {person}: {address}",
        ),
        "TEST": (
            "Riassumi il reclamo di {person}: l'accredito su {iban} manca dal {date}.",
            "Scrivi una risposta al Sig. {last} sulla carta bloccata {card}.",
            "La cliente {person} ora abita in {address} e chiede nuovi documenti.",
            "Nota telefonica: {person} ha chiamato il {date}, numero di richiamata {phone}.",
            "Aggiorna l'indirizzo email di {person} con {email}.",
            "Gentile signora {last}, grazie per la richiesta di prestito di {amount}.",
            "Controlla se l'addebito sul conto {iban} è stato respinto.",
            "La carta {card} è stata rifiutata a {city}, spiega il motivo.",
            "Traduci in inglese: il dottor {person} chiede di rinviare la rata.",
            "Controparte: {person}, {address}, telefono {phone}.",
            "Scrivi un sollecito di pagamento per {person}, importo dovuto {amount}.",
            "Cordiali saluti,\n{person}\nFiliale di {city}\n{phone}",
        ),
    },
    "nl": {
        "TUNE": (
            "Controleer de overboeking van {person} naar IBAN {iban}.",
            "Geachte mevrouw {last}, uw nieuwe pas {card} is onderweg.",
            "Klant {person} heeft een nieuw adres: {address}.",
            "Bel {person} terug op {phone} over de hypotheekaanvraag.",
            "Rekeninghouder {person} ({email}) vraagt een afschrift.",
            "Beste heer {last}, we hebben uw bericht ontvangen.",
            "Blokkeer de creditcard {card} direct.",
            "Nieuw bezorgadres voor {person}: {address}",
        ),
        "TEST": (
            "Vat de klacht van {person} samen: de bijschrijving op {iban} ontbreekt sinds {date}.",
            "Schrijf een antwoord aan dhr. {last} over de geblokkeerde kaart {card}.",
            "Klant {person} woont nu op {address} en vraagt nieuwe documenten.",
            "Gespreksnotitie: {person} belde op {date}, terugbelnummer {phone}.",
            "Wijzig het e-mailadres van {person} in {email}.",
            "Beste mevrouw {last}, dank voor uw aanvraag voor een lening van {amount}.",
            "Controleer of de incasso van rekening {iban} is gestorneerd.",
            "De kaart {card} is geweigerd in {city}, geef de reden.",
            "Vertaal naar het Engels: mevr. {person} vraagt uitstel van de termijn.",
            "Wederpartij: {person}, {address}, telefoon {phone}.",
            "Schrijf een betalingsherinnering voor {person}, openstaand bedrag {amount}.",
            "Met vriendelijke groet,\n{person}\nKantoor {city}\n{phone}",
        ),
    },
    "zh": {
        "TUNE": (
            "请核实{person}向账户{iban}的转账。",
            "{last}先生，您的新卡{card}已寄出。",
            "客户{person}更新了地址：{address}。",
            "请回电{person}，电话{phone}，关于房贷申请。",
            "持卡人{person}（{email}）申请对账单。",
            "请立即冻结信用卡{card}。",
            "身份证号{cnid}的客户申请开户。",
            "{person}的新收货地址：{address}",
        ),
        "TEST": (
            "总结{person}的投诉：自{date}起{iban}的入账未到。",
            "给{last}女士写一封关于被冻结卡片{card}的回复。",
            "客户{person}现居住在{address}，要求补寄文件。",
            "来电记录：{person}于{date}来电，回拨号码{phone}。",
            "请把{person}的邮箱改为{email}。",
            "尊敬的{last}先生，感谢您申请{amount}的贷款。",
            "核查身份证{cnid}名下的账户是否有逾期。",
            "卡号{card}在{city}被拒，请说明原因。",
            "翻译成英文：联系人{person}要求延期还款。",
            "交易对手：{person}，{address}，电话{phone}。",
            "给借款人{person}写一封催款函，欠款{amount}。",
            "此致\n{person}\n{city}分行\n{phone}",
        ),
    },
    "ja": {
        "TUNE": (
            "{person}様からIBAN {iban}への送金を確認してください。",
            "{last}様、新しいカード{card}を発送しました。",
            "お客様{person}の住所が変更されました：{address}。",
            "住宅ローンの件で{person}さんに{phone}へ折り返し電話してください。",
            "口座名義人{person}（{email}）から明細書の依頼がありました。",
            "カード{card}を直ちに停止してください。",
            "{person}様の新しい送付先：{address}",
            "{last}さんから問い合わせがありました。",
        ),
        "TEST": (
            "{person}様の苦情を要約してください：{date}以降、{iban}への入金がありません。",
            "停止されたカード{card}について{last}様への返信を作成してください。",
            "お客様の{person}様は現在{address}にお住まいで、書類の再送を希望しています。",
            "通話メモ：{person}さんが{date}に電話、折り返し番号{phone}。",
            "{person}様のメールアドレスを{email}に変更してください。",
            "{last}様、{amount}のローンのお申し込みありがとうございます。",
            "口座{iban}の引き落としが返却されたか確認してください。",
            "カード{card}が{city}で拒否されました。理由を説明してください。",
            "英語に翻訳して：{person}氏が返済の延期を求めています。",
            "取引相手：{person}、{address}、電話{phone}。",
            "{person}様宛に督促状を作成してください。未払い額{amount}。",
            "よろしくお願いいたします。\n{person}\n{city}支店\n{phone}",
        ),
    },
}

# -- prompts without personal data -------------------------------------------------

CLEAN: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "TUNE": (
            "Summarise the Q{num} liquidity report for the Treasury Committee.",
            "Draft a memo on the new overdraft fee of {amount} effective {date}.",
            "Explain the difference between Tier 1 and Tier 2 capital.",
            "Rewrite this paragraph in plain English: {sentence}",
            "List the risks of the {company} loan facility of {amount}.",
            "Translate the branch opening hours notice for {city}.",
        ),
        "TEST": (
            "Calculate the monthly instalment on a {amount} loan at {pct} over {num} years.",
            "Write an internal announcement about the migration of the payments platform on {date}.",
            "What does the Basel III leverage ratio measure?",
            "Proofread: {sentence}",
            "Prepare talking points on {company}'s quarterly results for the credit committee.",
            "Our branch in {city} reports a {pct} rise in mortgage applications; draft a short analysis.",
            "Generate SQL that sums transaction amounts per day for {year}.",
            "Compare fixed and variable rate mortgages for a customer newsletter.",
            "Review the onboarding checklist for corporate accounts and suggest three improvements.",
            "Convert {amount} to EUR at a rate of 1.{num} and round to two decimals.",
        ),
    },
    "de": {
        "TUNE": (
            "Fasse den Liquiditätsbericht für das {num}. Quartal zusammen.",
            "Erstelle ein Memo zur neuen Kontoführungsgebühr von {amount} ab {date}.",
            "Erkläre den Unterschied zwischen hartem Kernkapital und Ergänzungskapital.",
            "Formuliere diesen Absatz verständlicher: {sentence}",
            "Liste die Risiken der Kreditlinie von {company} über {amount} auf.",
            "Übersetze die Öffnungszeiten der Filiale {city} ins Englische.",
        ),
        "TEST": (
            "Berechne die Monatsrate für einen Kredit über {amount} bei {pct} Zins und {num} Jahren Laufzeit.",
            "Schreibe eine interne Mitteilung zur Migration der Zahlungsplattform am {date}.",
            "Was misst die Verschuldungsquote nach Basel III?",
            "Korrigiere Rechtschreibung und Grammatik: {sentence}",
            "Bereite Stichpunkte zu den Quartalszahlen von {company} für den Kreditausschuss vor.",
            "Die Filiale {city} meldet {pct} mehr Baufinanzierungsanfragen; schreibe eine kurze Analyse.",
            "Beschreibe den Rückzahlungsprozess für Ratenkredite in fünf Schritten.",
            "Vergleiche Festzins- und variable Darlehen für den Kundennewsletter.",
            "Überprüfe die Checkliste zur Kontoeröffnung für Firmenkunden.",
            "Rechne {amount} zum Kurs 1,{num} in US-Dollar um.",
        ),
    },
    "fr": {
        "TUNE": (
            "Résume le rapport de liquidité du {num}e trimestre.",
            "Rédige une note sur les nouveaux frais de tenue de compte de {amount} au {date}.",
            "Explique la différence entre fonds propres de base et complémentaires.",
            "Reformule ce paragraphe plus simplement : {sentence}",
            "Liste les risques de la ligne de crédit de {company} de {amount}.",
            "Traduis les horaires d'ouverture de l'agence de {city} en anglais.",
        ),
        "TEST": (
            "Calcule la mensualité d'un prêt de {amount} à {pct} sur {num} ans.",
            "Rédige une annonce interne sur la migration de la plateforme de paiement le {date}.",
            "Que mesure le ratio de levier de Bâle III ?",
            "Corrige l'orthographe : {sentence}",
            "Prépare des points clés sur les résultats trimestriels de {company} pour le comité de crédit.",
            "L'agence de {city} signale une hausse de {pct} des demandes de prêt ; rédige une courte analyse.",
            "Décris le processus de remboursement anticipé en cinq étapes.",
            "Compare les prêts à taux fixe et à taux variable pour la lettre d'information.",
            "Relis la liste de contrôle d'ouverture de compte pour les entreprises.",
            "Convertis {amount} en dollars au taux de 1,{num}.",
        ),
    },
    "es": {
        "TUNE": (
            "Resume el informe de liquidez del {num}º trimestre.",
            "Redacta una nota sobre la nueva comisión de mantenimiento de {amount} desde el {date}.",
            "Explica la diferencia entre capital de nivel 1 y de nivel 2.",
            "Reescribe este párrafo de forma más sencilla: {sentence}",
            "Enumera los riesgos de la línea de crédito de {company} por {amount}.",
            "Traduce el horario de la oficina de {city} al inglés.",
        ),
        "TEST": (
            "Calcula la cuota mensual de un préstamo de {amount} al {pct} a {num} años.",
            "Escribe un anuncio interno sobre la migración de la plataforma de pagos el {date}.",
            "¿Qué mide el ratio de apalancamiento de Basilea III?",
            "Corrige la ortografía: {sentence}",
            "Prepara puntos clave sobre los resultados trimestrales de {company} para el comité de riesgos.",
            "La oficina de {city} registra un aumento del {pct} en solicitudes de hipoteca; redacta un análisis breve.",
            "Describe el proceso de amortización anticipada en cinco pasos.",
            "Compara hipotecas a tipo fijo y variable para el boletín de clientes.",
            "Revisa la lista de verificación de apertura de cuentas para empresas.",
            "Convierte {amount} a dólares al cambio de 1,{num}.",
        ),
    },
    "it": {
        "TUNE": (
            "Riassumi il report di liquidità del {num}° trimestre.",
            "Scrivi una nota sulla nuova commissione di tenuta conto di {amount} dal {date}.",
            "Spiega la differenza tra capitale di classe 1 e di classe 2.",
            "Riscrivi questo paragrafo in modo più semplice: {sentence}",
            "Elenca i rischi della linea di credito di {company} per {amount}.",
            "Traduci gli orari della filiale di {city} in inglese.",
        ),
        "TEST": (
            "Calcola la rata mensile di un mutuo di {amount} al {pct} per {num} anni.",
            "Scrivi un comunicato interno sulla migrazione della piattaforma pagamenti il {date}.",
            "Che cosa misura il coefficiente di leva finanziaria di Basilea III?",
            "Correggi l'ortografia: {sentence}",
            "Prepara i punti chiave sui risultati trimestrali di {company} per il comitato crediti.",
            "La filiale di {city} segnala un aumento del {pct} delle richieste di mutuo; scrivi una breve analisi.",
            "Descrivi il processo di estinzione anticipata in cinque passaggi.",
            "Confronta mutui a tasso fisso e variabile per la newsletter clienti.",
            "Rivedi la checklist di apertura conti per le aziende.",
            "Converti {amount} in dollari al cambio di 1,{num}.",
        ),
    },
    "nl": {
        "TUNE": (
            "Vat het liquiditeitsrapport van kwartaal {num} samen.",
            "Schrijf een memo over de nieuwe rekeningkosten van {amount} per {date}.",
            "Leg het verschil uit tussen tier 1- en tier 2-kapitaal.",
            "Herschrijf deze alinea eenvoudiger: {sentence}",
            "Noem de risico's van de kredietfaciliteit van {company} van {amount}.",
            "Vertaal de openingstijden van kantoor {city} naar het Engels.",
        ),
        "TEST": (
            "Bereken de maandtermijn van een lening van {amount} tegen {pct} over {num} jaar.",
            "Schrijf een interne aankondiging over de migratie van het betaalplatform op {date}.",
            "Wat meet de leverage ratio van Bazel III?",
            "Corrigeer de spelling: {sentence}",
            "Maak kernpunten over de kwartaalcijfers van {company} voor de kredietcommissie.",
            "Kantoor {city} meldt {pct} meer hypotheekaanvragen; schrijf een korte analyse.",
            "Beschrijf het proces van vervroegde aflossing in vijf stappen.",
            "Vergelijk hypotheken met vaste en variabele rente voor de nieuwsbrief.",
            "Controleer de checklist voor het openen van zakelijke rekeningen.",
            "Reken {amount} om naar dollars tegen koers 1,{num}.",
        ),
    },
    "zh": {
        "TUNE": (
            "总结第{num}季度的流动性报告。",
            "起草一份关于自{date}起账户管理费调整为{amount}的通知。",
            "解释一级资本和二级资本的区别。",
            "把这段话改写得更通俗：{sentence}",
            "列出{company}{amount}授信额度的风险。",
            "把{city}支行的营业时间翻译成英文。",
        ),
        "TEST": (
            "计算{amount}贷款、年利率{pct}、期限{num}年的月供。",
            "写一份关于{date}支付平台迁移的内部公告。",
            "巴塞尔协议III的杠杆率衡量什么？",
            "校对这段文字：{sentence}",
            "为授信委员会准备{company}季度业绩的要点。",
            "{city}支行房贷申请增长{pct}，请写一段简短分析。",
            "用五个步骤描述提前还款流程。",
            "为客户通讯比较固定利率和浮动利率房贷。",
            "审阅企业开户核对清单并提出三条改进建议。",
            "按1.{num}的汇率把{amount}换算成美元。",
        ),
    },
    "ja": {
        "TUNE": (
            "第{num}四半期の流動性レポートを要約してください。",
            "{date}からの口座維持手数料{amount}についての通知を作成してください。",
            "Tier1資本とTier2資本の違いを説明してください。",
            "この段落をわかりやすく書き直してください：{sentence}",
            "{company}への{amount}の融資枠のリスクを挙げてください。",
            "{city}支店の営業時間を英語に翻訳してください。",
        ),
        "TEST": (
            "{amount}のローン、金利{pct}、期間{num}年の月々の返済額を計算してください。",
            "{date}の決済基盤移行についての社内告知を書いてください。",
            "バーゼルIIIのレバレッジ比率は何を測るものですか？",
            "次の文章を校正してください：{sentence}",
            "与信委員会向けに{company}の四半期決算の要点をまとめてください。",
            "{city}支店で住宅ローン申込が{pct}増加しました。短い分析を書いてください。",
            "繰上返済の手続きを五つのステップで説明してください。",
            "顧客向けニュースレターのために固定金利と変動金利を比較してください。",
            "法人口座開設のチェックリストを見直し、改善点を三つ挙げてください。",
            "{amount}を1.{num}のレートでドルに換算してください。",
        ),
    },
}

# -- words for the hard forms, per language -----------------------------------------

# CSV/JSON keys that name a person, per language (test / tune use different ones).
NAME_KEYS = {
    "TEST": {
        "en": ("account_holder", "customer_name", "name"),
        "de": ("Kontoinhaber", "Name", "Kunde"),
        "fr": ("titulaire", "nom", "client"),
        "es": ("titular", "nombre", "cliente"),
        "it": ("intestatario", "nome", "cliente"),
        "nl": ("rekeninghouder", "naam", "klant"),
        "zh": ("姓名", "户名", "客户"),
        "ja": ("氏名", "名義人", "顧客名"),
    },
    "TUNE": {
        "en": ("holder", "full_name", "beneficiary"),
        "de": ("Inhaber", "Empfänger"),
        "fr": ("beneficiaire", "nom_complet"),
        "es": ("beneficiario", "nombre_completo"),
        "it": ("beneficiario", "nominativo"),
        "nl": ("begunstigde", "volledige_naam"),
        "zh": ("收款人", "联系人"),
        "ja": ("名前", "受取人"),
    },
}

# Salutations written before a surname alone.
SALUTATIONS = {
    "TEST": {
        "en": ("Dear Mr {last},", "Hello Ms. {last},", "Thanks, Mrs {last}."),
        "de": ("Sehr geehrter Herr {last},", "Guten Tag Frau {last},"),
        "fr": ("Bonjour Madame {last},", "Cher M. {last},"),
        "es": ("Estimado Sr. {last}:", "Buenos días, Sra. {last}."),
        "it": ("Gentile Sig. {last},", "Egregio Dott. {last},"),
        "nl": ("Geachte heer {last},", "Beste mevr. {last},"),
        "zh": ("尊敬的{last}女士：", "{last}先生您好，"),
        "ja": ("{last}様", "{last}さん、こんにちは。"),
    },
    "TUNE": {
        "en": ("Hi Mr. {last},", "Good morning Dr {last},"),
        "de": ("Hallo Herr {last},", "Liebe Frau {last},"),
        "fr": ("Madame {last},", "Monsieur {last},"),
        "es": ("Hola Sra. {last},", "Sr. {last}:"),
        "it": ("Buongiorno Sig.ra {last},", "Caro Sig. {last},"),
        "nl": ("Beste heer {last},", "Geachte mevrouw {last},"),
        "zh": ("{last}女士您好，", "亲爱的{last}先生："),
        "ja": ("{last}様へ", "{last}氏"),
    },
}

# A request that follows a salutation or a table, per language.
FOLLOW_UP = {
    "en": "please find the updated statement attached.",
    "de": "anbei erhalten Sie den aktualisierten Kontoauszug.",
    "fr": "veuillez trouver ci-joint le relevé mis à jour.",
    "es": "adjuntamos el extracto actualizado.",
    "it": "in allegato trova l'estratto conto aggiornato.",
    "nl": "in de bijlage vindt u het bijgewerkte afschrift.",
    "zh": "附件是更新后的对账单。",
    "ja": "更新された明細書を添付いたします。",
}

TABLE_REQUEST = {
    "en": "Check these rows for duplicates:",
    "de": "Prüfe diese Zeilen auf Dubletten:",
    "fr": "Vérifie ces lignes pour les doublons :",
    "es": "Revisa estas filas en busca de duplicados:",
    "it": "Controlla queste righe per i duplicati:",
    "nl": "Controleer deze regels op dubbelingen:",
    "zh": "检查这些行是否有重复：",
    "ja": "次の行に重複がないか確認してください：",
}

# Short local phone numbers, as staff write them (no country code).
LOCAL_PHONE_LEAD = {
    "en": "Call the customer back on {phone} today.",
    "de": "Bitte heute unter {phone} zurückrufen.",
    "fr": "Rappeler le client au {phone} aujourd'hui.",
    "es": "Devolver la llamada al {phone} hoy.",
    "it": "Richiamare il cliente al {phone} oggi.",
    "nl": "Bel de klant vandaag terug op {phone}.",
    "zh": "今天请回拨{phone}。",
    "ja": "本日中に{phone}へ折り返してください。",
}

# Addresses abroad inside a sentence of the language.
ADDRESS_LEAD = {
    "en": ("The customer moved to {address} last month.", "Send the replacement card to {address}, please."),
    "de": ("Der Kunde ist nach {address} umgezogen.",),
    "fr": ("Le client a déménagé au {address}.",),
    "es": ("El cliente se mudó a {address}.",),
    "it": ("Il cliente si è trasferito in {address}.",),
    "nl": ("De klant is verhuisd naar {address}.",),
    "zh": ("客户已搬到{address}。",),
    "ja": ("お客様は{address}に転居しました。",),
}

SPLIT_LEAD = {
    "en": ("Card no.: {card}", "IBAN\n{iban}"),
    "de": ("Kartennummer: {card}", "IBAN:\n{iban}"),
    "fr": ("N° de carte : {card}", "IBAN :\n{iban}"),
    "es": ("Número de tarjeta: {card}", "IBAN:\n{iban}"),
    "it": ("Numero carta: {card}", "IBAN:\n{iban}"),
    "nl": ("Kaartnummer: {card}", "IBAN:\n{iban}"),
    "zh": ("卡号：{card}", "IBAN：\n{iban}"),
    "ja": ("カード番号：{card}", "IBAN：\n{iban}"),
}

LOWER_CASE_LEAD = {
    "en": ("customer {person} asked for a new pin", "spoke with {person} about the loan"),
    "de": ("kunde {person} möchte eine neue pin",),
    "fr": ("le client {person} demande un nouveau code",),
    "es": ("el cliente {person} pide un pin nuevo",),
    "it": ("il cliente {person} chiede un nuovo pin",),
    "nl": ("klant {person} vraagt een nieuwe pincode",),
    "zh": ("client {person} wants a new pin",),
    "ja": ("customer {person} wants a new pin",),
}
