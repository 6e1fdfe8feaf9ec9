// The dashboard is one static page whose script polls the JSON API (every 2 s) and draws with
// plain DOM and inline SVG: no build step, no CDN, works on an air-gapped operations network.
// A time-range picker (last hour/day/week) chooses the history the chart shows; filters by user,
// site, task and error code narrow the tables as they are typed. The body gets data-ready="true"
// once the first data is drawn, so a screenshot or a probe knows when the page shows data.
// All text goes in through textContent, so a DN or error message can never inject markup.
import { STATE_COLORS } from "../../jobs/index.ts";

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:baseline}
header a{color:#9cc3ff;text-decoration:none}
main{padding:16px 20px;display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px}
section.wide{grid-column:1/-1}
h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eef0f3;font-variant-numeric:tabular-nums}
.bar{display:flex;height:12px;min-width:160px;border-radius:3px;overflow:hidden;background:#eef0f3}
.bar span{display:block;height:100%}
.muted{color:#6b7280}.err{color:#b42318}
.controls{display:flex;gap:14px;align-items:center;flex-wrap:wrap}.controls input{width:130px}
#range button{border:1px solid #c7ccd4;background:#fff;padding:3px 10px;cursor:pointer}#range button[aria-pressed=true]{background:#1d2330;color:#fff}
.legend span{display:inline-block;margin-right:10px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
`;

const SCRIPT = String.raw`
const COLORS=${JSON.stringify(STATE_COLORS)};
const STATES=Object.keys(COLORS);
const $=(id)=>document.getElementById(id);
function el(tag,attrs,...kids){const e=document.createElement(tag);for(const[k,v]of Object.entries(attrs||{})){if(k==="text")e.textContent=v;else e.setAttribute(k,v);}for(const c of kids)if(c!=null)e.append(c);return e;}
function svg(tag,attrs){const e=document.createElementNS("http://www.w3.org/2000/svg",tag);for(const[k,v]of Object.entries(attrs))e.setAttribute(k,v);return e;}
async function api(p){const r=await fetch(p);if(!r.ok)throw new Error(p+": "+r.status);return r.json();}
function stateBar(counts,total){const b=el("div",{class:"bar",title:STATES.map(s=>s+" "+(counts[s]||0)).join(", ")});for(const s of STATES){const n=counts[s]||0;if(n)b.append(el("span",{style:"width:"+(100*n/total)+"%;background:"+COLORS[s]}));}return b;}
function table(head,rows){const t=el("table",{});t.append(el("tr",{},...head.map(h=>el("th",{text:h}))));for(const r of rows)t.append(el("tr",{},...r.map(c=>c instanceof Node?el("td",{},c):el("td",{text:c==null?"":String(c)}))));return t;}
function hbars(rows,color){const w=460,h=18*rows.length+4;const s=svg("svg",{width:w,height:h,role:"img"});const max=Math.max(1,...rows.map(r=>r.value));rows.forEach((r,i)=>{const y=i*18+2;const bw=Math.max(1,(w-260)*r.value/max);s.append(svg("rect",{x:215,y,width:bw,height:14,fill:color}));const lt=svg("text",{x:0,y:y+11,"font-size":11});lt.textContent=r.label.length>34?"…"+r.label.slice(-33):r.label;s.append(lt);const vt=svg("text",{x:219+bw,y:y+11,"font-size":11});vt.textContent=String(r.value);s.append(vt);});return s;}
function fmtTime(ms,span){const d=new Date(ms);return span>36e5*36?d.toLocaleDateString(undefined,{month:"short",day:"numeric"})+" "+d.toLocaleTimeString(undefined,{hour:"2-digit",minute:"2-digit"}):d.toLocaleTimeString(undefined,{hour:"2-digit",minute:"2-digit"});}
function lines(h){const w=900,ht=220,l=56,r=16,t=12,b=34;const points=h.points;const s=svg("svg",{width:"100%",viewBox:"0 0 "+w+" "+ht,role:"img","data-range":h.range,"data-points":String(points.length)});
  const t0=h.from,t1=h.to;const span=Math.max(1,t1-t0);let max=1;for(const p of points)for(const st of STATES)max=Math.max(max,p.states[st]||0);
  const X=ms=>l+(w-l-r)*(ms-t0)/span,Y=v=>ht-b-(ht-t-b)*v/max;
  const text=(x,y,str,attrs)=>{const e=svg("text",Object.assign({x,y,"font-size":11,fill:"#4b5563"},attrs||{}));e.textContent=str;s.append(e);return e;};
  s.append(svg("line",{x1:l,y1:ht-b,x2:w-r,y2:ht-b,stroke:"#9ca3af"}));s.append(svg("line",{x1:l,y1:t,x2:l,y2:ht-b,stroke:"#9ca3af"}));
  for(const f of [0,0.5,1]){const v=Math.round(max*f);const y=Y(v);s.append(svg("line",{x1:l-4,y1:y,x2:w-r,y2:y,stroke:"#eef0f3"}));text(l-6,y+4,String(v),{"text-anchor":"end",class:"y-tick"});}
  for(const f of [0,0.25,0.5,0.75,1]){const ms=t0+span*f;const x=X(ms);s.append(svg("line",{x1:x,y1:ht-b,x2:x,y2:ht-b+4,stroke:"#9ca3af"}));text(x,ht-b+16,fmtTime(ms,span),{"text-anchor":f===0?"start":f===1?"end":"middle",class:"x-tick"});}
  text(l,ht-4,"time ("+({hour:"last hour",day:"last day",week:"last week"}[h.range]||h.range)+")",{"font-size":10});
  const yl=text(12,t+(ht-t-b)/2,"jobs",{"font-size":10,transform:"rotate(-90 12 "+(t+(ht-t-b)/2)+")","text-anchor":"middle"});yl.setAttribute("class","y-label");
  if(points.length<2){text(l+10,t+20,"collecting samples…");return s;}
  for(const st of STATES){const d=points.map((p,i)=>(i?"L":"M")+X(p.at).toFixed(1)+","+Y(p.states[st]||0).toFixed(1)).join("");s.append(svg("path",{d,fill:"none",stroke:COLORS[st],"stroke-width":2,"data-state":st}));}
  return s;}
function legend(){const l=el("div",{class:"legend"});for(const s of STATES)l.append(el("span",{},el("i",{style:"background:"+COLORS[s]}),s));return l;}
function replace(id,...nodes){const e=$(id);if(e)e.replaceChildren(...nodes);}
let range="hour",cache=null;const filters={user:"",site:"",task:"",code:""};
const has=(v,f)=>!f||String(v??"").toLowerCase().includes(f.toLowerCase());
async function refreshDashboard(){
  const [tasks,sites,factory,errors,usage,history,pilots]=await Promise.all([api("/api/tasks"),api("/api/sites"),api("/api/factory"),api("/api/errors"),api("/api/accounting?by=user"),api("/api/history?range="+range),api("/api/pilots")]);
  cache={tasks,sites,factory,errors,usage,history,pilots};drawDashboard();
}
function drawDashboard(){
  if(!cache)return;const {tasks,sites,factory,errors,usage,history,pilots}=cache;const f=filters;
  const code=f.code.replace(/^E/i,"");
  const shownTasks=tasks.filter(t=>has(t.ownerDn,f.user)&&(has(t.taskId,f.task)||has(t.taskName,f.task))&&(!code||(t.errors||[]).some(e=>String(e.code)===code)));
  replace("tasks",table(["task","name","owner DN","priority","status","progress","jobs","errors"],shownTasks.map(t=>{const a=el("a",{href:"/task/"+encodeURIComponent(t.taskId),text:t.taskId});return[a,t.taskName,t.ownerDn,t.priority,t.status,stateBar(t.counts,Math.max(1,t.njobs)),STATES.filter(s=>t.counts[s]).map(s=>s+" "+t.counts[s]).join(", "),(t.errors||[]).map(e=>"E"+e.code+" "+e.count).join(", ")];})),legend());
  replace("sites",table(["site","queued","running","finished","failed","pilots","empty-pilot ratio","files held"],sites.filter(s=>has(s.site,f.site)).map(s=>[s.site,s.queued,s.running,s.counts.finished,s.counts.failed,Object.entries(s.pilots).map(([k,v])=>k+" "+v).join(", "),s.emptyPilotRatio==null?"–":(100*s.emptyPilotRatio).toFixed(0)+"%",s.filesHeld==null?"–":s.filesHeld])));
  replace("pilots",table(["site","state","pilots"],pilots.filter(p=>has(p.site,f.site)).map(p=>[p.site,p.state,p.count])));
  const breaker=q=>!q.breaker||q.breaker.state==="closed"?"closed":q.breaker.state+" ("+q.breaker.failures+" failed"+(q.breaker.retryAt?", retry "+new Date(q.breaker.retryAt).toLocaleTimeString():"")+")"+(q.breaker.reason?" E"+q.breaker.reason.code+": "+q.breaker.reason.message:"");
  replace("factory",table(["queue","site","submitted","pending","idle","running","exited","empty","missed","activated jobs","rate/min","target/min","breaker"],factory.filter(q=>has(q.site,f.site)||has(q.queue,f.site)).map(q=>[q.queue,q.site,q.submitted,q.pending,q.idle,q.running,q.exited,q.emptyPilots,q.missed??0,q.activatedJobs??"-",q.ratePerMin.toFixed(1),q.targetPerMin,breaker(q)])));
  const shownErrors=errors.filter(e=>!code||String(e.code)===code);
  replace("errors",shownErrors.length?hbars(shownErrors.map(e=>({label:e.code+" "+e.name,value:e.count})),"#c0392b"):el("p",{class:"muted",text:"no failures"}),table(["code","name","jobs"],shownErrors.map(e=>[e.code,e.name,e.count])));
  const shownUsage=usage.filter(u=>has(u.name,f.user));
  replace("usage",shownUsage.length?hbars(shownUsage.map(u=>({label:u.name,value:Math.round(u.wallSec)})),"#2e86c1"):el("p",{class:"muted",text:"no accounting records yet"}),table(["user","jobs","wall s","cpu s"],shownUsage.map(u=>[u.name,u.jobs,u.wallSec.toFixed(1),u.cpuSec.toFixed(2)])));
  replace("history",lines(history),legend());
  replace("updated",document.createTextNode("updated "+new Date().toLocaleTimeString()));
  document.body.dataset.ready="true";
}
function wireControls(){
  for(const b of document.querySelectorAll("#range button"))b.addEventListener("click",()=>{range=b.dataset.range;for(const o of document.querySelectorAll("#range button"))o.setAttribute("aria-pressed",String(o===b));tick();});
  for(const k of Object.keys(filters)){const i=$("filter-"+k);if(i)i.addEventListener("input",()=>{filters[k]=i.value.trim();drawDashboard();});}
}
async function refreshTask(id){
  const [task,jobs]=await Promise.all([api("/api/tasks/"+encodeURIComponent(id)),api("/api/tasks/"+encodeURIComponent(id)+"/jobs")]);
  replace("task-head",el("p",{},el("b",{text:task.taskName+" "}),document.createTextNode("owner "+task.ownerDn+", priority "+task.priority+", status "+task.status+(task.open?" (open: more jobs as its input files are registered)":"")+(task.message?"; "+task.message:""))),stateBar(task.counts,Math.max(1,task.njobs)),el("p",{id:"task-counts"},...STATES.map(s=>el("span",{"data-state":s,text:s+" "+task.counts[s]+"  "}))));
  replace("jobs",table(["job","state","site","attempt","error code","error","message","wall s"],jobs.map(j=>[el("a",{href:"/job/"+encodeURIComponent(j.jobId),text:j.jobId}),j.state,j.site,j.attempt+"/"+j.maxAttempts,j.errorCode??"",j.errorName??"",j.errorMessage??"",j.wallSec==null?"":j.wallSec.toFixed(1)])));
  replace("updated",document.createTextNode("updated "+new Date().toLocaleTimeString()));
  document.body.dataset.ready="true";
}
async function refreshJob(id){
  const {job,attempts}=await api("/api/jobs/"+encodeURIComponent(id));
  replace("job-head",el("p",{},el("b",{text:job.jobId+" "}),document.createTextNode(job.state+" at "+job.site+", attempt "+job.attempt+"/"+job.maxAttempts+(job.errorCode!=null?", E"+job.errorCode+" "+(job.errorName||"")+": "+(job.errorMessage||""):"")+", submitter "+job.userDn)));
  replace("attempts",attempts.length?table(["attempt","site","pilot","state","code","error","message","how it ended","at","log"],attempts.map(a=>[a.attempt,a.site,a.pilotId,a.state??"",a.errorCode??"ok",a.errorName??"",a.message??"",a.ended==="lost"?"pilot lost (lease expired)":a.ended==="current"?"running now":a.ended==="reported"?"pilot's report":"",new Date(a.at).toLocaleString(),a.logUrl?el("a",{href:a.logUrl,class:"log-link",text:"log of attempt "+a.attempt}):"–"])):el("p",{class:"muted",text:"no attempt yet"}));
  replace("updated",document.createTextNode("updated "+new Date().toLocaleTimeString()));
  document.body.dataset.ready="true";
}
const taskId=document.body.dataset.task,jobId=document.body.dataset.job;
const tick=()=>(jobId?refreshJob(jobId):taskId?refreshTask(taskId):refreshDashboard()).catch(e=>replace("updated",el("span",{class:"err",text:String(e)})));
if(!taskId&&!jobId)wireControls();
tick();setInterval(tick,2000);
`;

function shell(title: string, body: string, taskId?: string, jobId?: string): string {
  const data = (taskId === undefined ? "" : ` data-task="${taskId.replace(/[^A-Za-z0-9._:@-]/g, "")}"`) + (jobId === undefined ? "" : ` data-job="${jobId.replace(/[^A-Za-z0-9._:@-]/g, "")}"`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><style>${STYLE}</style></head><body${data}><header><b>pilot-wms monitor</b><a href="/">dashboard</a><a href="/metrics">metrics</a><span id="updated" class="muted"></span></header>${body}<script>${SCRIPT}</script></body></html>`;
}

export function dashboardPage(): string {
  return shell(
    "pilot-wms monitor",
    `<main>
<section class="wide controls"><span id="range" role="group" aria-label="time range"><button data-range="hour" aria-pressed="true">last hour</button><button data-range="day" aria-pressed="false">last day</button><button data-range="week" aria-pressed="false">last week</button></span>
<label>user <input id="filter-user" placeholder="DN or name"></label><label>site <input id="filter-site" placeholder="SITE_A"></label><label>task <input id="filter-task" placeholder="id or name"></label><label>error code <input id="filter-code" placeholder="1400"></label></section>
<section class="wide"><h2>Tasks</h2><div id="tasks"></div></section>
<section class="wide"><h2>Jobs by state over time</h2><div id="history"></div></section>
<section><h2>Sites</h2><div id="sites"></div></section>
<section class="wide"><h2>Pilot factory: rates against targets, circuit breakers</h2><div id="factory"></div></section>
<section><h2>Pilots (census)</h2><div id="pilots"></div></section>
<section><h2>Errors by code</h2><div id="errors"></div></section>
<section><h2>Usage by user (wall seconds)</h2><div id="usage"></div></section>
</main>`,
  );
}

export function taskPage(taskId: string): string {
  return shell(`task ${taskId.replace(/[<>&"]/g, "")}`, `<main><section class="wide"><h2>Task ${taskId.replace(/[<>&"]/g, "")}</h2><div id="task-head"></div></section><section class="wide"><h2>Jobs</h2><div id="jobs"></div></section></main>`, taskId);
}

/** A job: its state and code, and each attempt with its code and a link to its logs. */
export function jobPage(jobId: string): string {
  const safe = jobId.replace(/[<>&"]/g, "");
  return shell(`job ${safe}`, `<main><section class="wide"><h2>Job ${safe}</h2><div id="job-head"></div></section><section class="wide"><h2>Attempts</h2><div id="attempts"></div></section></main>`, undefined, jobId);
}
